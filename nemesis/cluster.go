// Package nemesis injects faults into a running ARES cluster on a schedule:
// partitions of several shapes, kill and restart, pause and resume, packet
// loss, added latency and reconfiguration. Every random choice comes from one
// seed, so a seed reproduces its schedule of faults.
package nemesis

import (
	"context"
	"errors"
	"time"

	"github.com/ares-torture/torture/ares"
)

// Link is the network path between one client and one server. In ARES
// servers never talk to each other, so every partition is a set of cut
// client<->server links.
type Link struct {
	Client, Server string
}

func (l Link) String() string { return l.Client + "-" + l.Server }

// ErrUnsupported is wrapped by a Cluster method that the backend cannot
// carry out (for example added latency on a kernel without netem). The
// nemesis records such a fault as unsupported instead of pretending.
var ErrUnsupported = errors.New("fault not supported by this cluster")

// Cluster is what the nemesis needs of a backend; both the local and the
// docker backends implement it. Names are server and client ids as used in
// the history and the configurations.
type Cluster interface {
	// Servers lists every server of the pool.
	Servers() []string
	// Clients lists every client whose links can be faulted.
	Clients() []string
	// Cut cuts links; cuts accumulate until Heal.
	Cut(ctx context.Context, links []Link) error
	// Heal restores every cut link and removes all loss, latency and drops.
	Heal(ctx context.Context) error
	// Kill kills a server with SIGKILL (or the backend's equivalent).
	Kill(ctx context.Context, server string) error
	// Restart starts a killed server again on its own data.
	Restart(ctx context.Context, server string) error
	// Pause stops a server's processes (SIGSTOP).
	Pause(ctx context.Context, server string) error
	// Resume continues a paused server (SIGCONT).
	Resume(ctx context.Context, server string) error
	// SetLoss drops each packet (or chunk) on the links with probability p.
	SetLoss(ctx context.Context, links []Link, p float64) error
	// SetLatency delays traffic on the links by d. It may return an error
	// wrapping ErrUnsupported.
	SetLatency(ctx context.Context, links []Link, d time.Duration) error
	// SetDrop loses each RPC request, and each reply, on the links with
	// probability p (0 removes it): the call hangs until the client's
	// retry timer or deadline, as after a lost datagram or a reset
	// connection. Unlike SetLoss, a lost message is never delivered late.
	// It may return an error wrapping ErrUnsupported.
	SetDrop(ctx context.Context, links []Link, p float64) error
}

// PowerLosser is a Cluster that can cut a server's power: the server
// crashes and its disk drops every write it had not synced (a kill leaves
// them in the page cache). Restart brings it back.
type PowerLosser interface {
	PowerLoss(ctx context.Context, server string) error
}

// ClientCrasher is a Cluster that can crash a client in the middle of an
// operation: the operation ends indeterminate and the client comes back
// as a new process.
type ClientCrasher interface {
	CrashClient(ctx context.Context, client string) error
}

// Steerer is a Cluster that steers quorums itself (the sim backend's
// scheduler): while on, each phase hears first from exactly one minimal
// quorum. Heal turns it off. Without it the nemesis steers through link
// latency.
type Steerer interface {
	SetSteer(ctx context.Context, on bool) error
}

// MultiReconfigurer is a Reconfigurer with several reconfiguring
// clients, so that reconfigurations can race.
type MultiReconfigurer interface {
	Reconfigurer
	// Reconfigurers is how many clients can reconfigure at once.
	Reconfigurers() int
	// ReconfigBy is Reconfig from reconfiguring client who.
	ReconfigBy(ctx context.Context, who int, servers []string, dap ares.DAP, k int) (string, error)
}

// Reconfigurer moves the cluster to a new configuration.
type Reconfigurer interface {
	// Reconfig installs a configuration of the given servers, DAP and EC
	// data shard count k (ignored for ABD) and returns a description of the
	// configuration installed.
	Reconfig(ctx context.Context, servers []string, dap ares.DAP, k int) (string, error)
	// Members lists the servers of the current configuration, as last known.
	Members() []string
}
