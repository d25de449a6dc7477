package checker

import (
	"strings"
	"testing"

	"github.com/ares-torture/torture/history"
)

// TestFailingPrefixOfAHistoryTooBigToSearch: one busy key (no quiescent
// point), a read early on that returns a value written only later. The
// search of the whole outgrows the memory limit; a prefix shows the
// violation, so the key is invalid, not undecided, and the diagnosis names
// the corrupted read.
func TestFailingPrefixOfAHistoryTooBigToSearch(t *testing.T) {
	usePorcupineOnly(t)
	ops := synthetic(3, 2000, 1, 8)
	var lastWrite string
	for i := len(ops) - 1; i >= 0; i-- {
		if ops[i].F == history.FWrite && ops[i].Type == history.Ok {
			lastWrite = ops[i].Value
			break
		}
	}
	reads, bad := 0, -1
	for i, o := range ops {
		if o.F == history.FRead && o.Type == history.Ok {
			if reads++; reads == 20 {
				ops[i].Value, bad = lastWrite, i
				break
			}
		}
	}
	// A share of 1 MiB per worker: the whole outgrows it, a prefix of
	// about 60 operations does not.
	opts := Options{MemoryLimit: int64(workers()) << 20}
	res := check(t, ops, opts)
	wantVerdict(t, res, Invalid)
	if len(res.Anomalies) != 1 || res.Anomalies[0].Op == nil {
		t.Fatalf("anomalies %+v", res.Anomalies)
	}
	if got := res.Anomalies[0].Op; got.Value != lastWrite || got.F != history.FRead {
		t.Errorf("failing operation %v, want the read of %q (history index %d)", got, lastWrite, bad)
	}
	if !strings.Contains(res.Keys[0].Reason, "outgrew its memory share") {
		t.Errorf("key reason %q", res.Keys[0].Reason)
	}
}
