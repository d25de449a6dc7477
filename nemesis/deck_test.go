package nemesis

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ares-torture/torture/history"
)

// TestEveryKindEachRound: the first cycles of any seed inject every
// primary kind once before any comes twice, and reconfigurations and
// client crashes come in one of each two cycles. Drawn uniformly, a 30 s
// run of 8 kinds injected 4.
func TestEveryKindEachRound(t *testing.T) {
	primary := []string{Partition, Kill, Pause, Loss, Latency, Drop, Skew, Power, Steer}
	for seed := range int64(20) {
		c, r := setup()
		ops := runForSeed(t, c, r, Kinds, seed, 4*(len(primary)+3))
		var starts []string
		reconfigs, crashes := 0, 0
		for _, op := range ops {
			if op.F != history.FStart {
				continue
			}
			switch op.Fault {
			case Reconfig:
				reconfigs++
			case Crash:
				crashes++
			default:
				starts = append(starts, op.Fault)
			}
		}
		if len(starts) < len(primary) {
			t.Fatalf("seed %d: %d primary faults in %d lines", seed, len(starts), len(ops))
		}
		first := slices.Clone(starts[:len(primary)])
		slices.Sort(first)
		want := slices.Clone(primary)
		slices.Sort(want)
		if !slices.Equal(first, want) {
			t.Errorf("seed %d: first %d primary faults %v, want each of %v once", seed, len(primary), starts[:len(primary)], primary)
		}
		// len(starts) cycles ran; each pair of them has one of each.
		if pairs := len(starts) / 2; reconfigs < pairs || crashes < pairs {
			t.Errorf("seed %d: %d cycles, %d reconfigurations and %d crashes; want at least %d of each", seed, len(starts), reconfigs, crashes, pairs)
		}
	}
}

// TestDeckSkipsRemoved: a card removed mid-round (a kind found
// unsupported) is not dealt again; the others still come once a round.
func TestDeckSkipsRemoved(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var d deck[string]
	cards := []string{"a", "b", "c", "d"}
	first := d.draw(rng, cards)
	cards = slices.DeleteFunc(cards, func(c string) bool { return c == first })
	var got []string
	for range 3 {
		got = append(got, d.draw(rng, cards))
	}
	slices.Sort(got)
	if !slices.Equal(got, cards) {
		t.Fatalf("rest of the round %v, want %v", got, cards)
	}
	for range 9 {
		if c := d.draw(rng, cards); c == first {
			t.Fatalf("removed card %q dealt again", first)
		}
	}
}
