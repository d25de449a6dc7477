package nemesis

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSteerByLatency: without a Steerer, steering slows every client's
// links to the servers outside one majority, and each hold's majority
// shares as few servers with the previous one as majorities can.
func TestSteerByLatency(t *testing.T) {
	c := newFake(5, 3)
	n, err := New(Options{Faults: []string{Steer}, Interval: time.Millisecond}, c, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	var prev []string
	for i := range 6 {
		n.opMu.Lock()
		f := n.startPrimaryLocked(context.Background())
		n.opMu.Unlock()
		if f == nil {
			t.Fatal("no steer fault started")
		}
		fast := strings.Fields(strings.TrimPrefix(f.desc, "fast "))
		if len(fast) != 3 {
			t.Fatalf("hold %d: fast set %v, want a majority of 3", i, fast)
		}
		c.mu.Lock()
		for _, cl := range c.clients {
			for _, s := range c.servers {
				d, slowed := c.latency[Link{cl, s}]
				if slowed == slices.Contains(fast, s) || slowed && d != steerDelay {
					t.Fatalf("hold %d: link %s-%s slowed=%v (%v) with fast set %v", i, cl, s, slowed, d, fast)
				}
			}
		}
		c.mu.Unlock()
		if prev != nil {
			shared := 0
			for _, s := range fast {
				if slices.Contains(prev, s) {
					shared++
				}
			}
			if shared != 1 {
				t.Fatalf("hold %d: %v shares %d servers with %v, want 1", i, fast, shared, prev)
			}
		}
		prev = fast
		n.opMu.Lock()
		if err := n.healLocked(context.Background(), f); err != nil {
			t.Fatal(err)
		}
		n.opMu.Unlock()
	}
}
