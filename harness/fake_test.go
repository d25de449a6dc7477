package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/ares/memnet"
	"github.com/ares-torture/torture/history"
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
	renews  atomic.Int64 // client renewals (after info operations)
	// infoEvery makes every n-th write of each client end info without
	// taking effect; renewFails makes every renewal fail.
	infoEvery  int
	renewFails bool
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

// memClient is an in-process ARES client; renewals are counted so that
// tests can see the run renewing a client after an info operation.
type memClient struct {
	mu     sync.Mutex
	ac     *ares.Client
	writes int
	c      *memCluster
}

func newMemClient(ac *ares.Client, c *memCluster) *memClient {
	return &memClient{ac: ac, c: c}
}

func (m *memClient) client() *ares.Client {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ac
}

func (m *memClient) Read(ctx context.Context, key string) ([]byte, ares.OpInfo, error) {
	return m.client().ReadInfo(ctx, key)
}

func (m *memClient) Write(ctx context.Context, key string, value []byte) (ares.OpInfo, error) {
	m.mu.Lock()
	m.writes++
	lost := m.c.infoEvery > 0 && m.writes%m.c.infoEvery == 0
	m.mu.Unlock()
	if lost {
		// A write whose outcome the client never learns: it did not
		// happen, which an info write may do.
		return ares.OpInfo{}, fmt.Errorf("injected: %w", context.DeadlineExceeded)
	}
	return m.client().WriteInfo(ctx, key, value)
}

func (m *memClient) CoverWrite(ctx context.Context, key string, base ares.Tag, value []byte) (ares.CoverResult, error) {
	return m.client().CoverWrite(ctx, key, base, value)
}

func (m *memClient) Reconfig(ctx context.Context, target *ares.Config) (*ares.Config, error) {
	return m.client().Reconfig(ctx, target)
}

func (m *memClient) Renew(ctx context.Context) error {
	if m.c.renewFails {
		return errors.New("injected: the agent does not answer")
	}
	ac, err := m.client().Renew()
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.ac = ac
	m.mu.Unlock()
	m.c.renews.Add(1)
	return nil
}

func (*memClient) Close() error { return nil }

func (c *memCluster) NewClient(ctx context.Context, name string, spec ClientSpec) (Client, error) {
	c.mu.Lock()
	c.clients = append(c.clients, name)
	c.mu.Unlock()
	ac, err := ares.NewClient(ares.ClientOptions{ID: name, Initial: spec.Initial, Transport: c.net.Client(name),
		PB: spec.PB, GC: spec.GC, Bug: spec.Bug, Retry: 50 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	return newMemClient(ac, c), nil
}

func (c *memCluster) ControlClient(ctx context.Context, spec ClientSpec) (Client, error) {
	ac, err := ares.NewClient(ares.ClientOptions{ID: "control", Initial: spec.Initial, Transport: c.net.Client("control"),
		PB: spec.PB, GC: spec.GC, Retry: 50 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	return newMemClient(ac, c), nil
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

func (c *memCluster) SetDrop(ctx context.Context, links []nemesis.Link, p float64) error {
	// Like SetLoss: memnet's drop is network-wide.
	c.net.SetFaults(memnet.Faults{Drop: p})
	return nil
}

var _ Cluster = (*memCluster)(nil)

// lastMem is the mem cluster built last, for tests that look inside it.
var lastMem atomic.Pointer[memCluster]

func init() {
	RegisterBackend("mem", Backend{New: func(ctx context.Context, cfg ClusterConfig) (Cluster, error) {
		return newMemCluster(cfg)
	}})
	// mem-info: every 5th write of a client ends info; mem-norenew: and
	// renewing a client fails.
	for name, renewFails := range map[string]bool{"mem-info": false, "mem-norenew": true} {
		RegisterBackend(name, Backend{New: func(ctx context.Context, cfg ClusterConfig) (Cluster, error) {
			c, err := newMemCluster(cfg)
			if err == nil {
				c.infoEvery, c.renewFails = 5, renewFails
				lastMem.Store(c)
			}
			return c, err
		}})
	}
}

func infoRun(t *testing.T, backend string) (*Outcome, []history.Op) {
	t.Helper()
	o := DefaultOptions()
	o.Backend, o.Store, o.Time, o.Nemesis = backend, t.TempDir(), Duration(time.Second), "none"
	o.Seed, o.Settle, o.CheckTimeout = 3, Duration(100*time.Millisecond), Duration(30*time.Second)
	o.Servers, o.Pool, o.Keys, o.ReadRatio, o.Clients = 3, 3, 2, 0.3, 4
	res := Run(context.Background(), o, Env{Out: io.Discard})
	ops, err := history.ReadFile(filepath.Join(res.RunDir, HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	return res, ops
}

// TestRunRenewsAfterInfo: after an info operation the next process of a
// client runs on a fresh ARES client (a writer id of its own), and ok
// operations carry the tag and configuration they learned.
func TestRunRenewsAfterInfo(t *testing.T) {
	res, ops := infoRun(t, "mem-info")
	if res.Code != ExitValid {
		t.Fatalf("exit %d: %s", res.Code, res.Line())
	}
	wids := map[int]map[string]bool{} // process -> writer ids of its writes
	type keyTag struct {
		key string
		tag history.Tag
	}
	tags := map[keyTag]string{} // no two writes of a key share a tag
	infos := 0
	for _, op := range ops {
		if op.Type == history.Info {
			infos++
		}
		if op.Type != history.Ok || op.Final {
			continue
		}
		if op.Tag == nil || op.Config == nil || *op.Config != 0 || op.Configs != 1 {
			t.Fatalf("ok operation without its protocol fields: %+v", op)
		}
		if op.F != history.FWrite {
			continue
		}
		kt := keyTag{op.Key, *op.Tag}
		if v, dup := tags[kt]; dup {
			t.Fatalf("tag %s of %s written with %q and %q", op.Tag, op.Key, v, op.Value)
		}
		tags[kt] = op.Value
		if wids[op.Process] == nil {
			wids[op.Process] = map[string]bool{}
		}
		wids[op.Process][op.Tag.WID] = true
	}
	owner := map[string]int{}
	for p, ws := range wids {
		if len(ws) != 1 {
			t.Fatalf("process %d wrote with writer ids %v", p, ws)
		}
		for w := range ws {
			if q, ok := owner[w]; ok {
				t.Fatalf("processes %d and %d share writer id %s", q, p, w)
			}
			owner[w] = p
		}
	}
	// Every info is followed by a renewal, but a client's last info when
	// the run ends.
	if n := lastMem.Load().renews.Load(); infos < 4 || n > int64(infos) || n < int64(infos-4) {
		t.Fatalf("%d renewals for %d info operations", n, infos)
	}
}

// TestRunRenewFailureStopsClient: a client whose renewal fails stops; the
// run is still checked, not a harness failure.
func TestRunRenewFailureStopsClient(t *testing.T) {
	res, ops := infoRun(t, "mem-norenew")
	if res.Code == ExitHarness || res.Code == ExitInvalid {
		t.Fatalf("exit %d: %s", res.Code, res.Line())
	}
	for _, op := range ops {
		if op.Type == history.Invoke && !op.Final && op.Process >= 4 {
			t.Fatalf("process %d ran after its client's renewal failed: %+v", op.Process, op)
		}
	}
}
