package ares_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/ares-torture/torture/ares"
)

// countingTransport counts the requests a client sends.
type countingTransport struct {
	ares.Transport
	n atomic.Int64
}

func (c *countingTransport) Call(ctx context.Context, to ares.Node, req *ares.Request) (*ares.Response, error) {
	c.n.Add(1)
	return c.Transport.Call(ctx, to, req)
}

// TestTraversalDoesNotGrow: a client keeps what its reads and writes learn
// of the sequence, so the messages an operation costs stay flat however
// many reconfigurations came before, instead of a walk from the initial
// configuration every time (a regression: the client once merged the
// sequence as the operation began, not as it ended).
func TestTraversalDoesNotGrow(t *testing.T) {
	for _, mode := range []struct{ pb, gc bool }{{false, false}, {true, false}, {true, true}} {
		t.Run(fmt.Sprintf("pb=%v,gc=%v", mode.pb, mode.gc), func(t *testing.T) {
			c := newCluster(t, 7, 1)
			initial := c.config(ares.ABD, 0, 0, 1, 2, 3, 4)
			ctx := context.Background()
			rc := c.client("rc", initial, mode.pb, mode.gc)
			tr := &countingTransport{Transport: c.net.Client("w")}
			w, err := ares.NewClient(ares.ClientOptions{ID: "w", Initial: initial, Transport: tr, PB: mode.pb, GC: mode.gc})
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 2))
			perOp := func() float64 {
				tr.n.Store(0)
				for j := 0; j < 10; j++ {
					if _, err := w.Read(ctx, "k"); err != nil {
						t.Fatal(err)
					}
					if err := w.Write(ctx, "k", []byte(fmt.Sprint(j))); err != nil {
						t.Fatal(err)
					}
				}
				return float64(tr.n.Load()) / 20
			}
			var early float64
			const reconfigs = 30
			for i := 1; i <= reconfigs; i++ {
				ids := r.Perm(7)[:3+r.IntN(5)]
				cfg := c.config(ares.ABD, 0, ids...)
				if i%2 == 0 {
					cfg = c.config(ares.EC, len(ids)-2, ids...)
				}
				if _, err := rc.Reconfig(ctx, cfg); err != nil {
					t.Fatal(err)
				}
				if i == 5 {
					early = perOp()
				}
			}
			late := perOp()
			t.Logf("requests per operation: %.1f after 5 reconfigurations, %.1f after %d", early, late, reconfigs)
			// A walk from the start would cost over 5x more by now; allow
			// for configurations of different sizes and DAPs.
			if late > 2*early {
				t.Errorf("requests per operation grew from %.1f to %.1f", early, late)
			}
			seq := w.Sequence()
			if last := seq[len(seq)-1]; last.Cfg.ID != reconfigs {
				t.Errorf("client knows up to configuration %d, want %d", last.Cfg.ID, reconfigs)
			}
		})
	}
}
