package harness

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/ares/memnet"
	"github.com/ares-torture/torture/nemesis"
)

// memCluster is a Cluster over the in-memory network of package memnet:
// the whole run flow without processes or sockets. Pause is a crash that
// keeps the server's handler (messages to it are lost meanwhile).
type memCluster struct {
	net     *memnet.Network
	pool    []ares.Node
	bug     ares.Bug
	mu      sync.Mutex
	stores  map[string]*ares.MemStorage
	clients []string
	stopped int
}

func newMemCluster(cfg ClusterConfig) (*memCluster, error) {
	c := &memCluster{net: memnet.New(uint64(cfg.Seed)), stores: map[string]*ares.MemStorage{}, bug: cfg.ServerBug}
	for i := 1; i <= cfg.Pool; i++ {
		id := fmt.Sprintf("s%d", i)
		c.pool = append(c.pool, ares.Node{ID: id, Addr: fmt.Sprintf("mem:%d", i)})
		c.stores[id] = ares.NewMemStorage()
	}
	return c, nil
}

func (c *memCluster) handler(id string) (ares.Handler, error) {
	return ares.NewServer(c.stores[id], ares.ServerOptions{ID: id, Bug: c.bug})
}

func (c *memCluster) Start(ctx context.Context) error {
	for _, n := range c.pool {
		h, err := c.handler(n.ID)
		if err != nil {
			return err
		}
		c.net.AddServer(n.ID, h)
	}
	return nil
}

func (c *memCluster) Pool() []ares.Node { return c.pool }

func (c *memCluster) Servers() []string {
	var out []string
	for _, n := range c.pool {
		out = append(out, n.ID)
	}
	return out
}

func (c *memCluster) Clients() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.clients...)
}

type memClient struct{ *ares.Client }

func (memClient) Close() error { return nil }

func (c *memCluster) NewClient(ctx context.Context, name string, spec ClientSpec) (Client, error) {
	c.mu.Lock()
	c.clients = append(c.clients, name)
	c.mu.Unlock()
	ac, err := ares.NewClient(ares.ClientOptions{ID: name, Initial: spec.Initial, Transport: c.net.Client(name),
		PB: spec.PB, GC: spec.GC, Bug: spec.Bug, Retry: 50 * time.Millisecond})
	return memClient{ac}, err
}

func (c *memCluster) ControlClient(ctx context.Context, spec ClientSpec) (Client, error) {
	ac, err := ares.NewClient(ares.ClientOptions{ID: "control", Initial: spec.Initial, Transport: c.net.Client("control"),
		PB: spec.PB, GC: spec.GC, Retry: 50 * time.Millisecond})
	return memClient{ac}, err
}

func (c *memCluster) Stop(ctx context.Context, logDir string) error {
	c.mu.Lock()
	c.stopped++
	c.mu.Unlock()
	for _, n := range c.pool {
		c.net.Crash(n.ID)
	}
	return nil
}

func (c *memCluster) Cut(ctx context.Context, links []nemesis.Link) error {
	for _, l := range links {
		c.net.Cut(l.Client, l.Server)
	}
	return nil
}

func (c *memCluster) Heal(ctx context.Context) error {
	c.net.Heal()
	c.net.SetFaults(memnet.Faults{})
	return nil
}

func (c *memCluster) Kill(ctx context.Context, s string) error { c.net.Crash(s); return nil }

func (c *memCluster) Restart(ctx context.Context, s string) error {
	h, err := c.handler(s)
	if err != nil {
		return err
	}
	return c.net.Restart(s, h)
}

func (c *memCluster) Pause(ctx context.Context, s string) error  { c.net.Crash(s); return nil }
func (c *memCluster) Resume(ctx context.Context, s string) error { return c.Restart(ctx, s) }

func (c *memCluster) SetLoss(ctx context.Context, links []nemesis.Link, p float64) error {
	// memnet's loss is network-wide; good enough to exercise the flow.
	c.net.SetFaults(memnet.Faults{Drop: p})
	return nil
}

func (c *memCluster) SetLatency(ctx context.Context, links []nemesis.Link, d time.Duration) error {
	return fmt.Errorf("memnet latency: %w", nemesis.ErrUnsupported)
}

var _ Cluster = (*memCluster)(nil)

func init() {
	RegisterBackend("mem", Backend{New: func(ctx context.Context, cfg ClusterConfig) (Cluster, error) {
		return newMemCluster(cfg)
	}})
}
