package sim_test

import (
	"strings"
	"testing"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/history"
	"github.com/ares-torture/torture/sim"
)

// TestFileWorkload: fragmented files edited under every fault are valid,
// with whole-file reads judged and every block checked as a coverable
// register; a writer that links a block before writing it
// (link-before-write) makes readers see files no write produced. Decided
// by seed; the bug is counted with a margin (6 of 6 seeds when written).
func TestFileWorkload(t *testing.T) {
	const seeds = 3
	caught := 0
	for seed := int64(1); seed <= seeds; seed++ {
		o := sim.BugOptions(ares.BugLinkFirst)
		o.Store, o.Seed, o.Ops, o.Trace = t.TempDir(), seed, 200, false
		if out, _ := runHistory(t, o); out.Verdict == "invalid" && strings.Contains(out.Reason, "files:") {
			caught++
		}
		o.ServerBug = ""
		out, ops := runHistory(t, o)
		if out.Verdict != "valid" {
			t.Errorf("correct writers, seed %d: %s (%s)", seed, out.Verdict, out.Reason)
		}
		var fileReads, fileWrites, blockCovers int
		for _, op := range ops {
			if op.Type != history.Ok || op.Final {
				continue
			}
			switch op.F {
			case history.FReadFile:
				fileReads++
			case history.FWriteFile:
				fileWrites++
			case history.FCover:
				blockCovers++
			}
		}
		if fileReads == 0 || fileWrites == 0 || blockCovers < fileWrites {
			t.Errorf("seed %d: %d file reads, %d file writes, %d block covers ok", seed, fileReads, fileWrites, blockCovers)
		}
	}
	if caught < seeds-1 {
		t.Errorf("link-before-write caught in %d of %d seeds, want at least %d", caught, seeds, seeds-1)
	}
}
