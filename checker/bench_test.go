//go:build unix

package checker

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/ares-torture/torture/history"
)

// cpuTime is the process's user+system CPU time: on a shared machine it
// says more about the checker's cost than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchCheck checks ops b.N times, reporting CPU seconds per check.
func benchCheck(b *testing.B, ops []history.Op, want Verdict) {
	b.ReportAllocs()
	c0 := cpuTime()
	n := 0
	for b.Loop() {
		res := Check(context.Background(), ops, Options{})
		if res.Verdict != want {
			b.Fatalf("verdict %s: %s", res.Verdict, res.Reason)
		}
		n++
	}
	b.ReportMetric((cpuTime()-c0).Seconds()/float64(n), "cpu-s/op")
}

// BenchmarkCheck checks synthetic linearizable histories of 8 keys and 10
// client processes; the time per op is the checking time of a whole
// history (stats and durability included, no report).
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		ops := synthetic(42, n, 8, 10)
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			benchCheck(b, ops, Valid)
		})
	}
}

// BenchmarkCheckOneKey is the worst shape for Porcupine's memory: the
// whole history on a single register.
func BenchmarkCheckOneKey(b *testing.B) {
	for _, n := range []int{5_000, 10_000} {
		ops := synthetic(42, n, 1, 10)
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			benchCheck(b, ops, Valid)
		})
	}
}

// BenchmarkDiagnose is the cost of an invalid key: the cheap check, the
// search for the failing operation and the verbose check.
func BenchmarkDiagnose(b *testing.B) {
	ops := synthetic(42, 10_000, 8, 10)
	// Make one late read return a value never written.
	for i := len(ops) - 1; i >= 0; i-- {
		if ops[i].Type == history.Ok && ops[i].F == history.FRead {
			ops[i].Value = "ghost"
			break
		}
	}
	benchCheck(b, ops, Invalid)
}
