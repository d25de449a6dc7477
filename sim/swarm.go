package sim

import (
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/nemesis"
)

// Swarm returns base reshaped by seed, as swarm testing does (Groce et
// al., 2012; FoundationDB and TigerBeetle's simulators randomize their
// settings per seed the same way): each seed gets its own number of
// clients, keys, read share, reconfigurers, fault interval, a random
// subset of the faults of base, and for a quarter of the register runs
// coverable writes instead. One shape that is good at every bug does
// not exist: a writer that reuses its tag after a crash shows only when
// few clients share few keys, a lost write only when kills pile up. Many
// shapes over many seeds cover more than the best single one. The result
// is an ordinary set of options: stored in test.json, it replays exactly.
func Swarm(base harness.Options, seed int64) harness.Options {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x737761726d))
	pick := func(xs ...int) int { return xs[rng.IntN(len(xs))] }
	o := base
	o.Seed = seed
	o.Clients = pick(1, 2, 3, 5, 8)
	o.Keys = pick(1, 2, 4, 8)
	o.ReadRatio = []float64{0.2, 0.5, 0.8}[rng.IntN(3)]
	o.Reconfigurers = pick(1, 2, 3)
	o.NemesisInterval = harness.Duration(time.Duration(pick(5, 10, 25)) * time.Millisecond)
	// A quarter of the seeds drive coverable registers (CoARES) when
	// base is a register run; file runs are ten times slower and have
	// their own cell (torture sim --workload file).
	if base.Workload == "register" && rng.IntN(4) == 0 {
		o.Workload = "cover"
	}
	faults, err := nemesis.Parse(base.Nemesis)
	if err == nil && len(faults) > 1 {
		var some []string
		for _, f := range faults {
			if rng.IntN(2) == 0 {
				some = append(some, f)
			}
		}
		if len(some) == 0 {
			some = []string{faults[rng.IntN(len(faults))]}
		}
		slices.Sort(some)
		o.Nemesis = strings.Join(some, ",")
	}
	return o
}
