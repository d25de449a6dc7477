package nemesis

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSkewShape: a skew fault delays the near group's links to every
// server but s, the far group's link to s only, and leaves a third group
// near everything.
func TestSkewShape(t *testing.T) {
	desc := regexp.MustCompile(`^skew: \S+ (s\d+) near \[([^]]*)\] far \[([^]]*)\]$`)
	for seed := uint64(1); seed <= 20; seed++ {
		c := newFake(5, 6)
		n, err := New(Options{Faults: []string{Skew}, Interval: time.Millisecond}, c, nil, int64(seed))
		if err != nil {
			t.Fatal(err)
		}
		n.opMu.Lock()
		f := n.startPrimaryLocked(context.Background())
		n.opMu.Unlock()
		if f == nil {
			t.Fatal("no skew fault started")
		}
		active := n.Active()
		m := desc.FindStringSubmatch(active[0])
		if m == nil {
			t.Fatalf("seed %d: Active() = %v", seed, active)
		}
		s, near, far := m[1], strings.Fields(m[2]), strings.Fields(m[3])
		if len(near) == 0 || len(far) == 0 || len(near)+len(far) >= 6 {
			t.Fatalf("seed %d: near %v far %v: want both, and some client near everything", seed, near, far)
		}
		calls, problems := c.snapshot()
		if len(problems) > 0 {
			t.Fatal(problems)
		}
		links := calls[len(calls)-1]
		for _, c := range near {
			if strings.Contains(links, " "+c+"-"+s) || !strings.Contains(links, " "+c+"-") {
				t.Fatalf("seed %d: near client %s: %s", seed, c, links)
			}
		}
		for _, c := range far {
			if !strings.Contains(links, " "+c+"-"+s) || strings.Count(links, " "+c+"-") != 1 {
				t.Fatalf("seed %d: far client %s: %s", seed, c, links)
			}
		}
	}
}
