package main

// torture bench overhead: what the harness costs the clients.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/ares-torture/torture/bench"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/harness/local"
)

// Modes of `bench overhead`: the same as bench all's throughput rows'.
const (
	modeHarness = bench.ModeRecorded
	modeDirect  = bench.ModeDirect
)

// measurement is one mode of one round.
type measurement struct {
	Round     int     `json:"round"`
	Mode      string  `json:"mode"`
	Ops       int64   `json:"ops"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"ops_per_sec"`
}

// overheadRound is one round of the table; a side is nil when Ctrl-C or a
// failure came before it.
type overheadRound struct {
	Round int      `json:"round"`
	A     *float64 `json:"a_ops_per_sec,omitempty"`
	B     *float64 `json:"b_ops_per_sec,omitempty"`
	Ratio *float64 `json:"ratio,omitempty"`
}

// overheadSummary: medians over every measurement of each mode, and
// their ratio (a's median over b's).
type overheadSummary struct {
	Rounds  []overheadRound `json:"rounds"`
	MedianA *float64        `json:"median_a_ops_per_sec,omitempty"`
	MedianB *float64        `json:"median_b_ops_per_sec,omitempty"`
	Ratio   *float64        `json:"ratio,omitempty"`
}

func summarizeOverhead(ms []measurement) overheadSummary {
	var s overheadSummary
	byRound := map[int]*overheadRound{}
	var as, bs []float64
	for _, m := range ms {
		r := byRound[m.Round]
		if r == nil {
			r = &overheadRound{Round: m.Round}
			byRound[m.Round] = r
		}
		v := m.OpsPerSec
		switch m.Mode {
		case modeHarness:
			r.A = &v
			as = append(as, v)
		case modeDirect:
			r.B = &v
			bs = append(bs, v)
		}
	}
	for _, r := range byRound {
		if r.A != nil && r.B != nil && *r.B > 0 {
			q := *r.A / *r.B
			r.Ratio = &q
		}
		s.Rounds = append(s.Rounds, *r)
	}
	sort.Slice(s.Rounds, func(i, j int) bool { return s.Rounds[i].Round < s.Rounds[j].Round })
	if m, ok := median(as); ok {
		s.MedianA = &m
	}
	if m, ok := median(bs); ok {
		s.MedianB = &m
	}
	if s.MedianA != nil && s.MedianB != nil && *s.MedianB > 0 {
		q := *s.MedianA / *s.MedianB
		s.Ratio = &q
	}
	return s
}

func printOverheadTable(w io.Writer, s overheadSummary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	f := func(p *float64, format string) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf(format, *p)
	}
	fmt.Fprintf(tw, "round\ta: %s ops/s\tb: %s ops/s\ta/b\t\n", modeHarness, modeDirect)
	for _, r := range s.Rounds {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t\n", r.Round, f(r.A, "%.0f"), f(r.B, "%.0f"), f(r.Ratio, "%.2f"))
	}
	fmt.Fprintf(tw, "median\t%s\t%s\t%s\t\n", f(s.MedianA, "%.0f"), f(s.MedianB, "%.0f"), f(s.Ratio, "%.2f"))
	tw.Flush()
	if s.Ratio != nil {
		fmt.Fprintf(w, "a/b = %.2f (ratio of the medians): the proxied and recorded clients ran at %.0f%% of the direct ones' rate\n",
			*s.Ratio, 100**s.Ratio)
	}
}

// overheadFile is STORE/bench/overhead-<start>.json.
type overheadFile struct {
	Suite        string            `json:"suite"`
	Start        time.Time         `json:"start"`
	Args         []string          `json:"args"`
	Time         string            `json:"time"`
	Rounds       int               `json:"rounds"`
	Clients      int               `json:"clients"`
	Servers      int               `json:"servers"`
	Keys         int               `json:"keys"`
	ReadRatio    float64           `json:"read_ratio"`
	ValueSize    int               `json:"value_size"`
	Thrifty      bool              `json:"thrifty"`
	Versions     map[string]string `json:"versions"`
	Interrupted  bool              `json:"interrupted,omitempty"`
	Error        string            `json:"error,omitempty"`
	Measurements []measurement     `json:"measurements"`
	Summary      overheadSummary   `json:"summary"`
}

func cmdBenchOverhead(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("torture bench overhead", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rf := roundFlags{runTime: harness.Duration(20 * time.Second)}
	rf.register(fs, "how long each measurement runs", "rounds of (a) proxied+recorded then (b) direct+unrecorded",
		10, 5, 8, "run store directory (figures go to bench/ in it)")
	thrifty := fs.String("thrifty", harness.ThriftyOn, "on: clients ask a quorum first, as a local run's do by default; off: every server at once")
	if code, done := parseBenchFlags(fs, args, stdout); done {
		return code
	}
	if *thrifty != harness.ThriftyOn && *thrifty != harness.ThriftyOff {
		return usageError(stdout, fmt.Sprintf("--thrifty %q: want on or off", *thrifty))
	}
	bin, ucode, ok := rf.check(stdout)
	if !ok {
		return ucode
	}

	start := time.Now()
	file := overheadFile{Suite: "overhead", Start: start, Args: append([]string{"torture", "bench", "overhead"}, args...),
		Time: rf.runTime.String(), Rounds: rf.rounds, Clients: rf.clients, Servers: rf.servers, Keys: rf.keys,
		ReadRatio: 0.5, ValueSize: 64, Thrifty: *thrifty == harness.ThriftyOn, Versions: harness.Versions(ctx, bin)}
	// The clusters live inside the store, not in /tmp: the recorded mode
	// should write its history where a real run writes (often another
	// file system), and a temporary tree there is removed at the end.
	if err := os.MkdirAll(filepath.Join(rf.store, BenchDir), 0o755); err != nil {
		fmt.Fprintf(stderr, "torture bench overhead: %v\n", err)
		return harness.ExitHarness
	}
	work, err := os.MkdirTemp(filepath.Join(rf.store, BenchDir), ".overhead-")
	if err != nil {
		fmt.Fprintf(stderr, "torture bench overhead: %v\n", err)
		return harness.ExitHarness
	}
	defer os.RemoveAll(work)

	fmt.Fprintf(stdout, "bench overhead: %d round(s) of %s each: (a) %s, (b) %s; %d clients, %d servers (ABD), %d keys, half reads, 64 B values\n",
		rf.rounds, rf.runTime, modeHarness, modeDirect, rf.clients, rf.servers, rf.keys)
	code := 0
rounds:
	for round := 1; round <= rf.rounds; round++ {
		for _, mode := range []string{modeHarness, modeDirect} {
			if ctx.Err() != nil {
				break rounds
			}
			label := fmt.Sprintf("round %d %s %-17s", round, map[string]string{modeHarness: "a", modeDirect: "b"}[mode], mode)
			dir, err := os.MkdirTemp(work, fmt.Sprintf("round%d-", round))
			if err != nil {
				file.Error = err.Error()
				code = harness.ExitHarness
				break rounds
			}
			stop := liveLine(stdout, func(d time.Duration) string {
				return fmt.Sprintf("%s running %s/%s", label, d.Truncate(time.Second), rf.runTime)
			})
			res, err := local.Throughput(ctx, local.ThroughputOptions{Dir: dir, ServerBin: bin, Servers: rf.servers,
				Clients: rf.clients, Keys: rf.keys, ReadRatio: file.ReadRatio, ValueSize: file.ValueSize, Seed: int64(round),
				Duration: rf.runTime.D(), Direct: mode == modeDirect, Record: mode == modeHarness, Thrifty: file.Thrifty, Logger: log})
			stop()
			_ = os.RemoveAll(dir) // a recorded history is tens of MB
			if ctx.Err() != nil {
				break rounds // what was cut short is no figure
			}
			if err != nil {
				fmt.Fprintf(stdout, "%s failed: %v\n", label, err)
				file.Error = err.Error()
				code = harness.ExitHarness
				break rounds
			}
			m := measurement{Round: round, Mode: mode, Ops: res.Ops, Seconds: res.Elapsed.Seconds(), OpsPerSec: res.OpsPerSec}
			file.Measurements = append(file.Measurements, m)
			fmt.Fprintf(stdout, "%s %8d ops in %5.1fs  %7.0f ops/s\n", label, m.Ops, m.Seconds, m.OpsPerSec)
		}
	}
	file.Interrupted = ctx.Err() != nil
	file.Summary = summarizeOverhead(file.Measurements)
	fmt.Fprintln(stdout)
	if file.Interrupted {
		fmt.Fprintf(stdout, "interrupted; the figures cover the %d finished measurement(s)\n\n", len(file.Measurements))
	}
	printOverheadTable(stdout, file.Summary)
	path, code := saveBench(rf.store, "overhead", start, &file, file.Interrupted, code, stderr)
	ratio := "-"
	if file.Summary.Ratio != nil {
		ratio = fmt.Sprintf("%.2f", *file.Summary.Ratio)
	}
	fmt.Fprintf(stdout, "\nBENCH overhead a/b=%s measurements=%d file=%s\n", ratio, len(file.Measurements), orDash(path))
	return code
}
