package main

// torture bench all (issue 14): one session that measures every speed
// figure of the issue and prints each beside its limit, and beside the
// same figure of another build's binaries (--baseline-bin) where those
// binaries can measure it. Package bench measures and makes the rows
// (bench.Session); this file parses the flags, hands it bench tables'
// and bench bugs' runs, and prints and saves the table.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/ares/aresrpc"
	"github.com/ares-torture/torture/bench"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/sim"
)

// benchAllFile is STORE/bench/all-<start>.json, and what --json prints.
type benchAllFile struct {
	Suite    string            `json:"suite"`
	Start    time.Time         `json:"start"`
	Args     []string          `json:"args"`
	Quick    bool              `json:"quick"`
	Sizes    bench.Sizes       `json:"sizes"`
	Versions map[string]string `json:"versions"`
	Baseline string            `json:"baseline,omitempty"` // its folder and version
	// LoadStart and LoadEnd are /proc/loadavg at the start and the end:
	// on a shared machine they say how much the figures can be trusted.
	LoadStart   string               `json:"load_start,omitempty"`
	LoadEnd     string               `json:"load_end,omitempty"`
	Rows        []bench.Row          `json:"rows"`
	Counts      map[string]int       `json:"counts"`
	Latency     *bench.LatencyResult `json:"latency,omitempty"`
	WallSeconds float64              `json:"wall_s"`
	Interrupted bool                 `json:"interrupted,omitempty"`
	File        string               `json:"file,omitempty"`
}

func cmdBenchAll(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("torture bench all", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "small sizes and few rounds: a smoke test of every row, not figures to quote")
	asJSON := fs.Bool("json", false, "print the rows as JSON on stdout (progress and the table go to stderr)")
	noDocker := fs.Bool("no-docker", false, "skip the docker row")
	baselineDir := fs.String("baseline-bin", "", "folder with another build's torture and ares-server: the figures they can measure are measured with them too, in this session")
	store := fs.String("store", "runs", "run store directory (figures go to bench/, work files to bench/.all-* while it runs)")
	serverBin := fs.String("server-bin", "", "ares-server binary (default: next to torture, then ./bin)")
	bugList := fs.String("bugs", "all", "bugs to time on the sim backend: all, or a comma list")
	seeds := fs.Int("seeds", 0, "sim seeds per bug (default 3; --quick 1)")
	var historyTime harness.Duration
	fs.Var(&historyTime, "history-time", "simulated time of the sim run whose history is checked (default 5m; --quick 20s)")
	if code, done := parseBenchFlags(fs, args, stdout); done {
		return code
	}
	sz := bench.DefaultSizes(*quick)
	if *seeds < 0 {
		return usageError(stdout, fmt.Sprintf("--seeds %d: want at least 1", *seeds))
	}
	if *seeds > 0 {
		sz.Seeds = *seeds
	}
	if historyTime < 0 {
		return usageError(stdout, fmt.Sprintf("--history-time %v: want > 0", historyTime))
	}
	if historyTime > 0 {
		sz.HistoryTime = historyTime.D()
	}
	if *store == "" {
		return usageError(stdout, "--store: empty")
	}
	var bugs []ares.Bug
	for _, name := range strings.Split(*bugList, ",") {
		name = strings.TrimSpace(name)
		switch name {
		case "":
		case "all":
			for _, b := range ares.Bugs {
				bugs = append(bugs, b.Name)
			}
		default:
			b, err := ares.ParseBug(name)
			if err != nil {
				return usageError(stdout, "--bugs: "+err.Error())
			}
			bugs = append(bugs, b)
		}
	}
	if len(bugs) == 0 {
		return usageError(stdout, "--bugs: none named")
	}
	var base *bench.Baseline
	if *baselineDir != "" {
		var err error
		if base, err = bench.OpenBaseline(ctx, *baselineDir); err != nil {
			return usageError(stdout, "--baseline-bin: "+err.Error())
		}
	}
	bin, err := findServerBin(*serverBin)
	if err != nil {
		return usageError(stdout, err.Error())
	}

	out := stdout
	if *asJSON {
		out = stderr
	}
	start := time.Now()
	file := benchAllFile{Suite: "all", Start: start, Args: append([]string{"torture", "bench", "all"}, args...), Quick: *quick,
		Sizes: sz, Versions: harness.Versions(ctx, bin), LoadStart: loadAvg()}
	if base != nil {
		file.Baseline = base.Dir + " (" + orDash(base.Version) + ")"
	}
	if err := os.MkdirAll(filepath.Join(*store, BenchDir), 0o755); err != nil {
		fmt.Fprintf(stderr, "torture bench all: %v\n", err)
		return harness.ExitHarness
	}
	work, err := os.MkdirTemp(filepath.Join(*store, BenchDir), ".all-")
	if err != nil {
		fmt.Fprintf(stderr, "torture bench all: %v\n", err)
		return harness.ExitHarness
	}
	defer os.RemoveAll(work)

	s := &bench.Session{Out: out, Log: log, Sizes: sz, ServerBin: bin, Base: base, Work: work, Args: file.Args, Bubble: simBubble}
	baseName := "none (--baseline-bin not given)"
	if base != nil {
		baseName = file.Baseline
	}
	fmt.Fprintf(out, "bench all: torture %s, baseline %s; %s sizes\n", file.Versions["torture"], baseName, map[bool]string{true: "--quick", false: "full"}[*quick])
	s.AddLatency(ctx)
	s.AddPending(ctx, tablesPendingReader(log))
	s.AddThroughput(ctx)
	s.AddCheck(ctx)
	s.AddBugs(ctx, bugs, bugFinder(file.Args))
	s.AddDocker(ctx, *noDocker)

	file.Rows, file.Latency = s.Rows, s.Latency
	file.Interrupted = ctx.Err() != nil
	file.LoadEnd = loadAvg()
	for i := range file.Rows {
		file.Rows[i].Judge()
	}
	file.Counts = bench.Counts(file.Rows)
	file.WallSeconds = time.Since(start).Seconds()
	fmt.Fprintln(out)
	if file.Interrupted {
		fmt.Fprintln(out, "interrupted; the table shows what ran")
	}
	if file.LoadStart != "" {
		fmt.Fprintf(out, "load average (1, 5, 15 min): %s at the start, %s at the end\n", file.LoadStart, file.LoadEnd)
	}
	bench.Print(out, file.Rows)
	code := 0
	if file.Counts[bench.Error] > 0 {
		code = harness.ExitHarness
	}
	path, code := saveBench(*store, "all", start, &file, file.Interrupted, code, stderr)
	file.File = path
	fmt.Fprintf(out, "\nBENCH all pass=%d fail=%d info=%d skipped=%d error=%d wall=%.0fs file=%s\n",
		file.Counts[bench.Pass], file.Counts[bench.Fail], file.Counts[bench.Info], file.Counts[bench.Skipped], file.Counts[bench.Error],
		file.WallSeconds, orDash(path))
	if *asJSON {
		return printBenchJSON(stdout, stderr, "all", &file, code)
	}
	return code
}

// loadAvg is the first three fields of /proc/loadavg, "" where there is
// none.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// tablesPendingReader is bench tables' Table II cell of the pending
// scenario, EC, in this process: plain and with PB, then with GC.
func tablesPendingReader(log *slog.Logger) bench.PendingReader {
	return func(ctx context.Context, dir string, s bench.TablesShape, out io.Writer) (bench.PendingCells, error) {
		tb := &tablesBench{out: out, log: log, dataDir: dir, servers: s.Servers, k: s.K, delta: 5,
			reads: s.Reads, limit: aresrpc.MaxMsgSize, dapII: ares.EC, pending: s.Pending}
		row := newRow(scenarioPending, s.Size, tableIICols)
		for _, gc := range []bool{false, true} {
			label := scenarioName(scenarioPending, s.Pending)
			if gc {
				label += " (GC)"
			}
			if err := tb.tableIIBuild(ctx, label, scenarioPending, gc, []*tablesRow{row}); err != nil {
				return bench.PendingCells{}, err
			}
		}
		cell := func(c *tablesCell) bench.PendingCell {
			if c == nil {
				return bench.PendingCell{}
			}
			return bench.PendingCell{Reads: c.Reads, Median: c.Median, Error: c.Error}
		}
		return bench.PendingCells{Plain: cell(row.Cells["ARES"]), PBGC: cell(row.Cells["ARES PB&GC"]), PB: cellText(row.Cells["ARES PB"])}, nil
	}
}

// bugFinder is bench bugs' runs on the sim backend, seeds 1..seeds of
// each bug in its shape (sim.BugOptions), summed up per bug; a run's
// folder is removed once its figures are read. args is the command line
// the runs record.
func bugFinder(args []string) bench.BugFinder {
	return func(ctx context.Context, store string, bugs []ares.Bug, seeds int, out io.Writer) []bench.BugResult {
		var runs []bugRun
		for _, b := range bugs {
			o := sim.BugOptions(b)
			o.Store = store
			if err := o.Validate(); err != nil {
				runs = append(runs, bugRun{Bug: string(b), Outcome: outHarness, Reason: err.Error()})
				continue
			}
			for seed := int64(1); seed <= int64(seeds); seed++ {
				if ctx.Err() != nil {
					break
				}
				o.Seed = seed
				label := fmt.Sprintf("  %-17s seed %d", b, seed)
				r := benchBugRun(ctx, o, label, out, args)
				fmt.Fprintln(out, bugRunLine(label, r))
				runs = append(runs, r)
				if r.RunDir != "" {
					_ = os.RemoveAll(r.RunDir)
				}
			}
		}
		var res []bench.BugResult
		for _, s := range summarizeBugs(bugs, runs) {
			r := bench.BugResult{Bug: s.Bug, Runs: s.Runs, Found: s.Found, HarnessFailures: s.HarnessFailures, Interrupted: s.Interrupted,
				RunsToFirst: s.RunsToFirst, WallToFindS: s.WallToFindS}
			if f := s.FirstViolationS; f != nil {
				r.FirstViolationMedianS = &f.Median
			}
			res = append(res, r)
		}
		return res
	}
}
