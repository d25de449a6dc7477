package shrink

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/ares-torture/torture/checker"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/history"
)

// countOps is how many operations a run's history has, the final reads
// among them.
func countOps(dir string) (int, error) {
	all, _, err := opsOf(dir)
	return all, err
}

// workloadOps is how many operations the workload clients invoked.
func workloadOps(dir string) (int, error) {
	_, w, err := opsOf(dir)
	return w, err
}

func opsOf(dir string) (all, workload int, err error) {
	if dir == "" {
		return 0, 0, nil
	}
	ops, err := history.ReadFile(filepath.Join(dir, harness.HistoryFile))
	if err != nil {
		return 0, 0, err
	}
	for _, o := range ops {
		if o.Type == history.Invoke {
			all++
			if !o.Final {
				workload++
			}
		}
	}
	return all, workload, nil
}

// describe is the options a shrink changes, on one line.
func describe(o harness.Options) string {
	return fmt.Sprintf("clients=%d keys=%d ops=%d nemesis=%s interval=%v op-timeout=%v time=%v settle=%v",
		o.Clients, o.Keys, o.Ops, o.Nemesis, o.NemesisInterval, o.OpTimeout, o.Time, o.Settle)
}

// RunCommand is a `torture run` command line that makes the same test as
// o (with its seed): every option that differs from the defaults, and
// those that shape a run always. It is for when the run directory, and so
// `torture rerun`, is not at hand.
func RunCommand(o harness.Options) string {
	d := harness.DefaultOptions()
	args := []string{"torture", "run", "--backend", o.Backend}
	add := func(always bool, name string, v, def any) {
		if always || fmt.Sprint(v) != fmt.Sprint(def) {
			args = append(args, "--"+name, fmt.Sprint(v))
		}
	}
	add(false, "servers", o.Servers, d.Servers)
	add(false, "pool", o.Pool, d.Pool)
	add(true, "clients", o.Clients, d.Clients)
	add(true, "keys", o.Keys, d.Keys)
	add(false, "dap", o.DAP, d.DAP)
	add(false, "ec-k", o.ECK, d.ECK)
	add(false, "workload", o.Workload, d.Workload)
	add(false, "read-ratio", strconv.FormatFloat(o.ReadRatio, 'g', -1, 64), strconv.FormatFloat(d.ReadRatio, 'g', -1, 64))
	add(true, "value-size", o.ValueSize, d.ValueSize)
	add(false, "dist", o.Dist, d.Dist)
	add(false, "rate", strconv.FormatFloat(o.Rate, 'g', -1, 64), strconv.FormatFloat(d.Rate, 'g', -1, 64))
	add(true, "ops", o.Ops, d.Ops)
	add(true, "nemesis", o.Nemesis, d.Nemesis)
	add(false, "reconfigurers", o.Reconfigurers, d.Reconfigurers)
	add(true, "nemesis-interval", o.NemesisInterval, d.NemesisInterval)
	add(true, "time", o.Time, d.Time)
	add(true, "op-timeout", o.OpTimeout, d.OpTimeout)
	add(true, "settle", o.Settle, d.Settle)
	add(false, "check-timeout", o.CheckTimeout, d.CheckTimeout)
	add(false, "server-bug", o.ServerBug, d.ServerBug)
	add(false, "pb", o.PB, d.PB)
	add(false, "gc", o.GC, d.GC)
	add(false, "thrifty", o.Thrifty, d.Thrifty)
	add(true, "seed", o.Seed, nil)
	return strings.Join(args, " ")
}

// finish writes the summary into the smallest run and points the store's
// latest link at it (the last candidate made may have been deleted).
func (s *shrinker) finish() error {
	origOps, _ := countOps(s.orig)
	all, w, err := opsOf(s.bestDir)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Shrunk run\n\n")
	fmt.Fprintf(&b, "This run is the smallest failing run `torture shrink` found for\n%s\n(%d operations).\n\n", s.orig, origOps)
	fmt.Fprintf(&b, "Its history has %d operations: %d by the workload clients, %d final reads.\n", all, w, all-w)
	fmt.Fprintf(&b, "Shrink made %d runs; every other candidate's run directory was deleted.\n\n", s.runs)
	fmt.Fprintf(&b, "Rerun it (same options and seed, from test.json):\n\n    torture rerun %s\n\n", s.bestDir)
	if s.exact {
		fmt.Fprintf(&b, "The %s backend is deterministic: with the binary that made it (test.json names its\n"+
			"version), the rerun's history is this one, byte for byte.\n\n", s.best.Backend)
	} else {
		fmt.Fprintf(&b, "The %s backend is not deterministic: each candidate was run up to %d times and counted as\n"+
			"failing if any run was invalid, so a rerun may pass; rerun with --count. After the search\n"+
			"this run's test failed again in %d of %d reruns.\n\n", s.best.Backend, s.opts.Tries, s.reproduced, s.opts.Tries)
	}
	fmt.Fprintf(&b, "The same test from flags, should this directory be gone:\n\n    %s\n\n", RunCommand(s.best))
	fmt.Fprintf(&b, "Each option change reshuffles the whole schedule, so every candidate was tried with\n"+
		"several seeds (%d, more for small ones); the seed of this run is part of its test.\n\n", s.opts.Seeds)
	fmt.Fprintf(&b, "## Reductions kept\n\n")
	for i, st := range s.steps {
		fmt.Fprintf(&b, "%d. %s\n", i+1, st)
	}
	if err := os.WriteFile(filepath.Join(s.bestDir, SummaryFile), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", SummaryFile, err)
	}
	return harness.UpdateLatest(s.best.Store, s.bestDir)
}

// cuts are operation bounds, smallest first, that may keep a run's
// violation while cutting off the rest of the run. A stale read or a
// duplicate tag is there once its operation completes: the run is cut
// after that. A lost write shows only in the final reads, once a fault
// destroyed it: the run is cut after the first, second, fourth... fault
// that started after the write completed (one more operation is kept, so
// that the clients still run when the fault strikes). And as a stale read
// late in the run may be the first sign of a write lost much earlier, the
// run is also cut after the first, second, fourth... fault of all. A cut
// keeps for each client at least the operations it had invoked by then.
func cuts(dir string, clients int) []int {
	res, err := checker.ReadResult(dir)
	if err != nil || clients < 1 {
		return nil
	}
	ops, err := history.ReadFile(filepath.Join(dir, harness.HistoryFile))
	if err != nil {
		return nil
	}
	// done[line of an invoke] is the line of its completion (1-based).
	done := map[int]int{}
	open := map[int]int{} // process → line of its pending invoke
	var faults []int      // lines of fault starts
	for i, o := range ops {
		switch o.Type {
		case history.Invoke:
			open[o.Process] = i + 1
		case history.Ok, history.Fail, history.Info:
			if l, ok := open[o.Process]; ok {
				done[l] = i + 1
				delete(open, o.Process)
			}
		case history.Nemesis:
			if o.F == history.FStart {
				faults = append(faults, i+1)
			}
		}
	}
	need := func(r checker.OpRef) int {
		if l, ok := done[r.Line]; ok {
			return l
		}
		return len(ops) // pending: the whole run
	}
	// nextInvoke is the line of the first workload invoke after line l.
	nextInvoke := func(l int) int {
		for i := l; i < len(ops); i++ {
			if ops[i].Type == history.Invoke && !ops[i].Final {
				return i + 1
			}
		}
		return len(ops)
	}
	var lines []int
	// Any violation that a fault set up may show in the final reads of a
	// run cut after that fault, wherever the first anomaly was seen.
	for k := 1; k <= len(faults); k *= 2 {
		lines = append(lines, nextInvoke(faults[k-1]))
	}
	for _, a := range res.Anomalies {
		switch {
		case len(a.Lost) > 0:
			first := need(a.Lost[0])
			for _, w := range a.Lost[1:] {
				first = min(first, need(w))
			}
			k := 0
			for _, f := range faults {
				if f <= first {
					continue
				}
				if k++; k&(k-1) == 0 { // the 1st, 2nd, 4th, 8th...
					lines = append(lines, nextInvoke(f))
				}
			}
		case a.Op != nil && !isFinal(ops, a.Op.Line):
			lines = append(lines, need(*a.Op))
		}
	}
	var out []int
	for _, l := range lines {
		if b := boundAt(ops, l, clients); !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	slices.Sort(out)
	return out
}

// boundAt is the least operation bound under which each client still
// invokes every operation it had invoked by line cut (client i of n runs
// processes i, i+n, ...; the bound's share of client i is Ops/n, one more
// for i < Ops%n).
func boundAt(ops []history.Op, cut, clients int) int {
	per := make([]int, clients)
	for _, o := range ops[:cut] {
		if o.Type == history.Invoke && !o.Final && o.Process >= 0 {
			per[o.Process%clients]++
		}
	}
	sum := 0
	for _, n := range per {
		sum += n
	}
	for b := max(sum, 1); ; b++ {
		ok := true
		for i, n := range per {
			share := b / clients
			if i < b%clients {
				share++
			}
			if share < n {
				ok = false
				break
			}
		}
		if ok {
			return b
		}
	}
}

func isFinal(ops []history.Op, line int) bool {
	return line >= 1 && line <= len(ops) && ops[line-1].Final
}
