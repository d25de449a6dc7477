package checker

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkCheck checks synthetic linearizable histories of 8 keys and 10
// client processes; the time per op is the checking time of a whole
// history (stats and durability included, no report).
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		ops := synthetic(42, n, 8, 10)
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res := Check(context.Background(), ops, Options{})
				if res.Verdict != Valid {
					b.Fatalf("verdict %s: %s", res.Verdict, res.Reason)
				}
			}
		})
	}
}

// BenchmarkCheckOneKey is the worst shape for Porcupine's memory: the
// whole history on a single register.
func BenchmarkCheckOneKey(b *testing.B) {
	for _, n := range []int{10_000, 50_000} {
		ops := synthetic(42, n, 1, 10)
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res := Check(context.Background(), ops, Options{})
				if res.Verdict != Valid {
					b.Fatalf("verdict %s: %s", res.Verdict, res.Reason)
				}
			}
		})
	}
}

// BenchmarkDiagnose is the cost of an invalid key: the cheap check, the
// search for the failing operation and the verbose check.
func BenchmarkDiagnose(b *testing.B) {
	ops := synthetic(42, 10_000, 8, 10)
	// Make one late read return a value never written.
	for i := len(ops) - 1; i >= 0; i-- {
		if ops[i].Type == "ok" && ops[i].F == "read" {
			ops[i].Value = "ghost"
			break
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		res := Check(context.Background(), ops, Options{})
		if res.Verdict != Invalid {
			b.Fatalf("verdict %s: %s", res.Verdict, res.Reason)
		}
	}
}
