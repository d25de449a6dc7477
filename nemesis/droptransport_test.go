package nemesis

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/history"
)

// echo answers every call at once and counts the requests it received.
type echo struct{ got atomic.Int64 }

func (e *echo) Call(_ context.Context, to ares.Node, req *ares.Request) (*ares.Response, error) {
	e.got.Add(1)
	return &ares.Response{ID: req.ID, From: to.ID}, nil
}

// answered makes n calls to server with a context that is already done when
// a message is lost, and returns how many were answered.
func answered(t *testing.T, d *DropTransport, server string, n int) int {
	t.Helper()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	ok := 0
	for i := range n {
		ctx := context.Background()
		if d.Drops()[server] > 0 {
			// Every lost message waits for its context: a done one keeps
			// the test fast.
			ctx = done
		}
		resp, err := d.Call(ctx, ares.Node{ID: server}, &ares.Request{ID: uint64(i + 1)})
		switch {
		case err == nil && resp != nil:
			ok++
		case err != nil && !errors.Is(err, context.Canceled):
			t.Fatalf("call %d: %v", i, err)
		}
	}
	return ok
}

func TestDropTransportDropsP(t *testing.T) {
	e := &echo{}
	d := NewDropTransport(e, rand.NewPCG(1, 2))
	if err := d.SetDrop("s1", 0.3); err != nil {
		t.Fatal(err)
	}
	const n = 10000
	ok := answered(t, d, "s1", n)
	// A request gets through with 0.7, its reply with 0.7 again.
	sent := int(e.got.Load())
	if sent < n*68/100 || sent > n*72/100 {
		t.Fatalf("%d of %d requests sent; want about 70%%", sent, n)
	}
	if ok < n*47/100 || ok > n*51/100 {
		t.Fatalf("%d of %d calls answered; want about 49%%", ok, n)
	}
	// Other servers are untouched.
	if got := answered(t, d, "s2", 100); got != 100 {
		t.Fatalf("%d of 100 calls to s2 answered", got)
	}
	// The same seed loses the same messages.
	e2 := &echo{}
	d2 := NewDropTransport(e2, rand.NewPCG(1, 2))
	_ = d2.SetDrop("s1", 0.3)
	if ok2 := answered(t, d2, "s1", n); ok2 != ok || e2.got.Load() != int64(sent) {
		t.Fatalf("same seed: %d answered, %d sent; first run %d, %d", ok2, e2.got.Load(), ok, sent)
	}
}

func TestDropTransportHeal(t *testing.T) {
	e := &echo{}
	d := NewDropTransport(e, rand.NewPCG(3, 4))
	_ = d.SetDrop("s1", 1)
	_ = d.SetDrop("s2", 0.5)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if _, err := d.Call(ctx, ares.Node{ID: "s1"}, &ares.Request{ID: 1}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a lost call ended with %v; want the context's deadline", err)
	}
	if time.Since(t0) < 20*time.Millisecond {
		t.Fatal("a lost call returned before its deadline")
	}
	if e.got.Load() != 0 {
		t.Fatal("a lost request reached the server")
	}
	d.Heal()
	if len(d.Drops()) != 0 {
		t.Fatalf("drops after heal: %v", d.Drops())
	}
	for _, s := range []string{"s1", "s2"} {
		if got := answered(t, d, s, 100); got != 100 {
			t.Fatalf("after heal, %d of 100 calls to %s answered", got, s)
		}
	}
	if err := d.SetDrop("s1", 1.5); err == nil {
		t.Fatal("p=1.5 accepted")
	}
}

// TestDropFault: the nemesis drops on every link of the clients it
// picks, records the links and p, and heals it.
func TestDropFault(t *testing.T) {
	c, r, rec := runUntil(t, []string{Drop}, 11, 20, 0)
	got, _ := c.snapshot()
	drops := 0
	for _, call := range got {
		if !strings.HasPrefix(call, "drop ") {
			continue
		}
		drops++
		// Each chosen client has its links to all five members.
		f := strings.Fields(call)[2:]
		if len(f)%5 != 0 {
			t.Fatalf("drop on %d links, not every link of its clients: %q", len(f), call)
		}
	}
	if drops == 0 {
		t.Fatalf("no drop in %v", got)
	}
	if len(r.snapshot()) != 0 {
		t.Fatal("reconfigured with only drop enabled")
	}
	var starts int
	for _, op := range rec.snapshot() {
		if op.Fault != Drop {
			t.Fatalf("fault %q recorded", op.Fault)
		}
		if op.F == history.FStart {
			starts++
			if !strings.HasPrefix(op.Value, "p=0.") || !strings.Contains(op.Value, "-s") {
				t.Fatalf("drop start without p and links: %+v", op)
			}
		}
	}
	if starts == 0 {
		t.Fatal("no drop recorded")
	}
}
