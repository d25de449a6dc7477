package harness

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/history"
)

// lateReadCluster is a mem cluster whose workload reads do not answer
// before serveAfter: the warm-up cannot end before the run's time is up,
// but the reads in flight then still complete ok.
type lateReadCluster struct {
	*memCluster
	serveAfter time.Time
}

type lateReadClient struct {
	Client
	serveAfter time.Time
}

func (c *lateReadCluster) NewClient(ctx context.Context, name string, spec ClientSpec) (Client, error) {
	cl, err := c.memCluster.NewClient(ctx, name, spec)
	if err != nil {
		return nil, err
	}
	return &lateReadClient{Client: cl, serveAfter: c.serveAfter}, nil
}

func (c *lateReadClient) Read(ctx context.Context, key string) ([]byte, ares.OpInfo, error) {
	select {
	case <-time.After(time.Until(c.serveAfter)):
	case <-ctx.Done():
		return nil, ares.OpInfo{}, ctx.Err()
	}
	return c.Client.Read(ctx, key)
}

func init() {
	RegisterBackend("mem-lateread", Backend{New: func(ctx context.Context, cfg ClusterConfig) (Cluster, error) {
		c, err := newMemCluster(cfg)
		if err != nil {
			return nil, err
		}
		return &lateReadCluster{memCluster: c, serveAfter: time.Now().Add(1300 * time.Millisecond)}, nil
	}})
}

// TestRunWarmUpNeverEnded: a run that asked for faults, whose cluster did
// not serve a read before the run's time was up, injected no fault; the
// reads in flight then completed ok, so the history alone passes every
// floor. It must not be called valid.
func TestRunWarmUpNeverEnded(t *testing.T) {
	o := DefaultOptions()
	o.Backend, o.Store, o.Time, o.Nemesis = "mem-lateread", t.TempDir(), Duration(time.Second), "partition"
	o.NemesisInterval, o.OpTimeout = Duration(100*time.Millisecond), Duration(3*time.Second)
	o.Seed, o.Settle, o.CheckTimeout = 5, Duration(50*time.Millisecond), Duration(30*time.Second)
	o.Servers, o.Pool, o.Keys, o.ReadRatio, o.Clients = 3, 3, 2, 0.1, 4
	res := Run(context.Background(), o, Env{Out: io.Discard})
	ops, err := history.ReadFile(filepath.Join(res.RunDir, HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		if op.Type == history.Nemesis {
			t.Fatalf("a fault was injected before the cluster served: %+v", op)
		}
	}
	if res.Code != ExitUnknown {
		t.Fatalf("exit %d, want unknown: %s", res.Code, res.Line())
	}
}
