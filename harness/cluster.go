// Package harness runs a test from start to end: a cluster backend, a pool
// of clients, the history recorder, the nemesis, the checker and the run
// store.
package harness

import (
	"context"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/history"
	"github.com/ares-torture/torture/nemesis"
)

// Cluster is the seam between a run and its backend (local processes or
// Docker containers). Faults act through the embedded nemesis.Cluster.
type Cluster interface {
	nemesis.Cluster
	// Start starts every server of the pool and waits until they serve.
	Start(ctx context.Context) error
	// Pool lists every server of the pool, in order; the first --servers
	// form the initial configuration.
	Pool() []ares.Node
	// NewClient returns client name's ARES endpoint. Its traffic to every
	// server goes over its own links, which the nemesis may cut or slow.
	NewClient(ctx context.Context, name string, spec ClientSpec) (Client, error)
	// ControlClient returns a client whose links no fault touches: the
	// reconfigurer and the final reads use it.
	ControlClient(ctx context.Context, spec ClientSpec) (Client, error)
	// Stop stops everything the cluster started and copies server logs
	// into logDir/<node>/. It is safe to call more than once.
	Stop(ctx context.Context, logDir string) error
}

// ClientSpec is what an ARES client of the run needs.
type ClientSpec struct {
	Initial *ares.Config
	PB, GC  bool
	// Thrifty: reads and writes ask a quorum first (ares.ClientOptions).
	Thrifty bool
	Bug     ares.Bug
}

// Client is one ARES client endpoint, in process (local backend) or an
// agent in its own container (docker backend).
type Client interface {
	// Read returns key's value (nil for the initial value) and what the
	// read learned (ares.Client.ReadInfo).
	Read(ctx context.Context, key string) ([]byte, ares.OpInfo, error)
	// Write stores value under key and reports what the write learned
	// (ares.Client.WriteInfo).
	Write(ctx context.Context, key string, value []byte) (ares.OpInfo, error)
	// CoverWrite writes value under key if base is still its latest
	// version (ares.Client.CoverWrite, the cover workload).
	CoverWrite(ctx context.Context, key string, base ares.Tag, value []byte) (ares.CoverResult, error)
	Reconfig(ctx context.Context, target *ares.Config) (*ares.Config, error)
	// Renew replaces the endpoint's ARES client by a fresh one (a new
	// writer id, no memory of the old one's tags), as Jepsen gives a new
	// process a new client after an operation of unknown outcome. Its
	// links to the servers stay the same.
	Renew(ctx context.Context) error
	Close() error
}

// SetOpInfo records what an ok operation learned into its completion line.
// An info with no configuration visited came from an agent that does not
// report it: nothing is recorded rather than the initial tag.
func SetOpInfo(done *history.Op, info ares.OpInfo) {
	if info.Configs == 0 {
		return
	}
	cfg := info.Config
	done.Tag = &history.Tag{TS: info.Tag.TS, WID: info.Tag.WID}
	done.Config = &cfg
	done.Configs, done.Elements, done.Behind = info.Configs, info.Elements, info.Behind
}
