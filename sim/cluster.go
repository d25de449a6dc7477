package sim

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/nemesis"
)

// Cluster is a simulated ARES cluster: real servers on simulated disks
// behind the simulated network. It implements harness.Cluster.
type Cluster struct {
	net    *Network
	log    *slog.Logger
	seed   int64
	runDir string
	tracer trace.Tracer
	bug    ares.Bug
	ids    []string

	mu      sync.Mutex
	disks   map[string]*Disk
	clients []string // workload clients, in creation order
	byName  map[string]*client
	configs map[uint64]*ares.Config
	started bool
	stopped bool
}

// NewCluster builds a cluster of pool servers s0..s{pool-1}; nothing runs
// until Start. It must be called inside the bubble the run lives in.
func NewCluster(cfg harness.ClusterConfig) (*Cluster, error) {
	if cfg.Pool < 1 {
		return nil, fmt.Errorf("sim: pool of %d servers", cfg.Pool)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{net: NewNetwork(uint64(cfg.Seed)), log: log, seed: cfg.Seed, runDir: cfg.RunDir, tracer: cfg.Tracer, bug: cfg.ServerBug,
		disks: map[string]*Disk{}, configs: map[uint64]*ares.Config{}, byName: map[string]*client{}}
	for i := 0; i < cfg.Pool; i++ {
		c.ids = append(c.ids, fmt.Sprintf("s%d", i))
	}
	return c, nil
}

// Network returns the cluster's network.
func (c *Cluster) Network() *Network { return c.net }

func (c *Cluster) boot(id string) (*ares.Server, error) {
	return ares.NewServer(c.disks[id], ares.ServerOptions{ID: id, Bug: c.bug, Logger: c.log.With("server", id), Tracer: c.tracer})
}

// Start implements harness.Cluster: every server boots on an empty disk and
// the scheduler starts.
func (c *Cluster) Start(ctx context.Context) error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return errors.New("sim: cluster already started")
	}
	c.started = true
	servers := make([]*ares.Server, len(c.ids))
	for i, id := range c.ids {
		c.disks[id] = NewDisk()
		s, err := c.boot(id)
		if err != nil {
			c.mu.Unlock()
			return err
		}
		servers[i] = s
	}
	c.mu.Unlock()
	// Lock order: Network.mu before Cluster.mu (the scheduler asks the
	// cluster for quorum sizes while it holds the network's lock), so the
	// network is never called with c.mu held.
	for i, id := range c.ids {
		c.net.AddServer(id, servers[i])
	}
	go c.net.Run()
	return nil
}

// Pool implements harness.Cluster.
func (c *Cluster) Pool() []ares.Node {
	out := make([]ares.Node, len(c.ids))
	for i, id := range c.ids {
		out[i] = ares.Node{ID: id, Addr: "sim:" + id}
	}
	return out
}

// Servers implements nemesis.Cluster.
func (c *Cluster) Servers() []string { return slices.Clone(c.ids) }

// Clients implements nemesis.Cluster.
func (c *Cluster) Clients() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.clients)
}

// clientRand is a client's seeded source of random bytes, safe for the
// client's goroutines.
type clientRand struct {
	mu sync.Mutex
	r  *rand.ChaCha8
}

func (r *clientRand) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.r.Read(p)
}

func (c *Cluster) newRand(name string) *clientRand {
	h := fnv.New64a()
	h.Write([]byte(name))
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(c.seed))
	binary.LittleEndian.PutUint64(seed[8:], h.Sum64())
	return &clientRand{r: rand.NewChaCha8(seed)}
}

// NewClient implements harness.Cluster.
func (c *Cluster) NewClient(ctx context.Context, name string, spec harness.ClientSpec) (harness.Client, error) {
	c.mu.Lock()
	if slices.Contains(c.clients, name) || name == controlName {
		c.mu.Unlock()
		return nil, fmt.Errorf("sim: client %s exists", name)
	}
	c.clients = append(c.clients, name)
	c.mu.Unlock()
	return c.newClient(name, spec)
}

const controlName = "control"

// ControlClient implements harness.Cluster: its links are never faulted
// (no fault names the control client's links).
func (c *Cluster) ControlClient(ctx context.Context, spec harness.ClientSpec) (harness.Client, error) {
	return c.newClient(controlName, spec)
}

func (c *Cluster) newClient(name string, spec harness.ClientSpec) (harness.Client, error) {
	ac, err := ares.NewClient(ares.ClientOptions{
		ID: name, Initial: spec.Initial, Transport: c.net.Transport(name),
		PB: spec.PB, GC: spec.GC, Thrifty: spec.Thrifty, Bug: spec.Bug, Logger: c.log.With("client", name), Tracer: c.tracer,
		Rand: c.newRand(name),
	})
	if err != nil {
		return nil, fmt.Errorf("sim: client %s: %w", name, err)
	}
	c.noteConfig(spec.Initial)
	cl := &client{InProcessClient: harness.NewInProcessClient(ac, nil), c: c}
	c.mu.Lock()
	c.byName[name] = cl
	c.mu.Unlock()
	return cl, nil
}

// client notes the configurations its reconfigurations install, so that
// quorum steering knows their quorum sizes.
type client struct {
	*harness.InProcessClient
	c *Cluster
}

func (cl *client) Reconfig(ctx context.Context, target *ares.Config) (*ares.Config, error) {
	got, err := cl.InProcessClient.Reconfig(ctx, target)
	if got != nil {
		cl.c.noteConfig(got)
	}
	return got, err
}

func (c *Cluster) noteConfig(cfg *ares.Config) {
	if cfg == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.configs[cfg.ID] = cfg.Clone()
}

// quorum is the minimal quorum a phase op of configuration config (sent
// to n servers) waits for: the DAP's quorum for the data phases, a
// majority for the configuration and consensus phases, and a majority
// when the configuration is not known here.
func (c *Cluster) quorum(config uint64, op ares.Op, n int) int {
	c.mu.Lock()
	cfg := c.configs[config]
	c.mu.Unlock()
	if cfg == nil || cfg.N() != n {
		return n/2 + 1
	}
	switch op {
	case ares.OpQueryTag, ares.OpQueryData, ares.OpPutData:
		return cfg.Quorum()
	}
	return cfg.Majority()
}

// Stop implements harness.Cluster: the scheduler stops; server logs went
// to the run's log.
// The scheduler's counters and decision hash go to RUN_DIR/sim.json, so
// that two runs of a seed can be compared without their histories.
func (c *Cluster) Stop(ctx context.Context, logDir string) error {
	// Not under c.mu: the scheduler takes c.mu (quorum sizes for
	// steering) while it holds the network's lock.
	c.mu.Lock()
	stopped := c.stopped
	c.stopped = true
	c.mu.Unlock()
	if stopped {
		return nil
	}
	c.net.Stop()
	st := c.net.Stats()
	c.log.Info("sim network stopped", "steps", st.Steps, "delivered", st.Delivered, "dropped", st.Dropped,
		"duplicated", st.Duplicated, "decisions", fmt.Sprintf("%016x", st.Hash))
	if c.runDir == "" {
		return nil
	}
	b, err := json.MarshalIndent(map[string]any{
		"seed": c.seed, "steps": st.Steps, "delivered": st.Delivered, "dropped": st.Dropped,
		"duplicated": st.Duplicated, "decisions": fmt.Sprintf("%016x", st.Hash),
	}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.runDir, SimFile), append(b, '\n'), 0o644)
}

// SimFile is the sim backend's record in a run directory: the seed, the
// scheduler's counters and the hash of its every delivery decision.
const SimFile = "sim.json"

func (c *Cluster) pairs(links []nemesis.Link) ([]pair, error) {
	out := make([]pair, 0, len(links))
	for _, l := range links {
		if !slices.Contains(c.ids, l.Server) {
			return nil, fmt.Errorf("sim: no server %q", l.Server)
		}
		if l.Client == controlName {
			return nil, errors.New("sim: the control client's links are never faulted")
		}
		out = append(out, pair{l.Client, l.Server})
	}
	return out, nil
}

func (c *Cluster) onLinks(links []nemesis.Link, f func(*link)) error {
	ps, err := c.pairs(links)
	if err != nil {
		return err
	}
	c.net.update(ps, f)
	return nil
}

// Cut implements nemesis.Cluster.
func (c *Cluster) Cut(ctx context.Context, links []nemesis.Link) error {
	return c.onLinks(links, func(l *link) { l.cut = true })
}

// Heal implements nemesis.Cluster: every link fault goes, and steering.
func (c *Cluster) Heal(ctx context.Context) error {
	c.net.HealLinks()
	c.steer(false)
	return nil
}

// SetLoss implements nemesis.Cluster: each lost packet costs a
// retransmission timeout, and a request may arrive twice.
func (c *Cluster) SetLoss(ctx context.Context, links []nemesis.Link, p float64) error {
	return c.onLinks(links, func(l *link) { l.loss = p })
}

// SetLatency implements nemesis.Cluster.
func (c *Cluster) SetLatency(ctx context.Context, links []nemesis.Link, d time.Duration) error {
	return c.onLinks(links, func(l *link) { l.latency = d })
}

// SetDrop implements nemesis.Cluster.
func (c *Cluster) SetDrop(ctx context.Context, links []nemesis.Link, p float64) error {
	return c.onLinks(links, func(l *link) { l.drop = p })
}

// CrashClient implements nemesis.ClientCrasher: the client crashes at a
// send of its own (Network.CrashAtSend), between two phases of an
// operation or in the middle of sending one.
func (c *Cluster) CrashClient(ctx context.Context, name string) error {
	c.mu.Lock()
	cl := c.byName[name]
	c.mu.Unlock()
	if cl == nil || name == controlName {
		return fmt.Errorf("sim: no workload client %q", name)
	}
	c.net.CrashAtSend(name, cl.Crash)
	return nil
}

// SetSteer implements nemesis.Steerer.
func (c *Cluster) SetSteer(ctx context.Context, on bool) error {
	c.steer(on)
	return nil
}

// steer turns quorum steering on or off.
func (c *Cluster) steer(on bool) {
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	switch {
	case on && c.net.steer == nil:
		c.net.steer = newSteering(c.quorum)
	case !on:
		c.net.steer = nil
	}
}

// Kill implements nemesis.Cluster: the process dies; its disk keeps what
// it wrote, synced or not.
func (c *Cluster) Kill(ctx context.Context, server string) error {
	return c.net.Crash(server)
}

// PowerLoss crashes a server and drops what its disk had not synced.
func (c *Cluster) PowerLoss(ctx context.Context, server string) error {
	if err := c.net.Crash(server); err != nil {
		return err
	}
	c.mu.Lock()
	lost := c.disks[server].PowerLoss()
	c.mu.Unlock()
	c.log.Info("power loss", "server", server, "unsynced_keys_lost", lost)
	return nil
}

// Restart implements nemesis.Cluster: a new server process on the disk.
func (c *Cluster) Restart(ctx context.Context, server string) error {
	if c.net.Up(server) {
		return nil
	}
	c.mu.Lock()
	s, err := c.boot(server)
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("sim: restart %s: %w", server, err)
	}
	return c.net.Restart(server, s)
}

// Pause implements nemesis.Cluster.
func (c *Cluster) Pause(ctx context.Context, server string) error {
	return c.net.SetPaused(server, true)
}

// Resume implements nemesis.Cluster.
func (c *Cluster) Resume(ctx context.Context, server string) error {
	return c.net.SetPaused(server, false)
}

func init() {
	harness.RegisterBackend("sim", harness.Backend{
		New: func(ctx context.Context, cfg harness.ClusterConfig) (harness.Cluster, error) {
			return NewCluster(cfg)
		},
		Bubble: func(f func()) { InBubble(f) },
	})
}
