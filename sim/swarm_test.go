package sim

import (
	"reflect"
	"strings"
	"testing"

	"github.com/ares-torture/torture/harness"
)

// TestSwarm: a seed's shape is the same every time, seeds differ, the
// faults are a non-empty subset of the base's, and every shape is valid.
func TestSwarm(t *testing.T) {
	base := DefaultOptions()
	shapes := map[string]bool{}
	covers := 0
	for seed := int64(1); seed <= 50; seed++ {
		a, b := Swarm(base, seed), Swarm(base, seed)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: two shapes %+v, %+v", seed, a, b)
		}
		if a.Seed != seed || a.Ops != base.Ops || a.Backend != base.Backend {
			t.Fatalf("seed %d: shape changed what it must keep: %+v", seed, a)
		}
		if a.Nemesis == "" || strings.Contains(a.Nemesis, "all") {
			t.Fatalf("seed %d: faults %q, want a non-empty list", seed, a.Nemesis)
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		shapes[shapeKey(a)] = true
		if a.Workload == "cover" {
			covers++
		}
	}
	if covers < 5 || covers > 25 {
		t.Fatalf("%d of 50 seeds drive coverable writes, want about a quarter", covers)
	}
	if len(shapes) < 40 {
		t.Fatalf("50 seeds gave only %d shapes", len(shapes))
	}
	one := base
	one.Nemesis = "kill"
	if got := Swarm(one, 3).Nemesis; got != "kill" {
		t.Fatalf("a single fault became %q", got)
	}
}

func shapeKey(o harness.Options) string {
	o.Seed, o.Name = 0, ""
	return strings.Join([]string{o.Nemesis, o.NemesisInterval.String(), string(rune('0' + o.Clients)), string(rune('0' + o.Keys)),
		string(rune('0' + o.Reconfigurers)), string(rune('0' + int(10*o.ReadRatio)))}, "/")
}
