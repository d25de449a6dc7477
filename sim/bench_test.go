package sim_test

import (
	"context"
	"os"
	"testing"

	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/sim"
)

// BenchmarkSimRun is one sim run per iteration with the sim defaults
// (torture sim's): 1,000 operations, every fault, the check included.
// It reports operations per wall second beside the time per run.
//
// A bubble needs a *testing.T (synctest.Test), which a benchmark does not
// have: testing.RunTests gives it one, running one test that makes the
// b.N runs. Its match function takes every name, so -run '^$' (as
// benchmarks are usually run) does not filter that test out.
func BenchmarkSimRun(b *testing.B) {
	store := b.TempDir()
	var ops int64
	all := func(string, string) (bool, error) { return true, nil }
	ok := testing.RunTests(all, []testing.InternalTest{{Name: "BenchmarkSimRun", F: func(t *testing.T) {
		bubble := sim.TestBubble(t)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			o := sim.DefaultOptions()
			o.Store, o.Seed = store, int64(i+1)
			out := harness.Run(context.Background(), o, harness.Env{Bubble: bubble})
			if out.Err != nil {
				t.Fatalf("seed %d: %v", o.Seed, out.Err)
			}
			ops += out.Counts.Completed()
			b.StopTimer()
			os.RemoveAll(out.RunDir) // a thousand runs' files would fill the disk
			b.StartTimer()
		}
	}}})
	if !ok {
		b.Fatal("a sim run failed")
	}
	b.ReportMetric(float64(ops)/b.Elapsed().Seconds(), "ops/s")
}
