package main

// torture bench all (issue 14): one session that measures every speed
// figure of the issue and prints each beside its limit, and beside the
// same figure of another build's binaries (--baseline-bin) where those
// binaries can measure it. The measuring code is package bench's, local's
// Throughput, bench tables' Table II and bench bugs' runs; this file
// chooses sizes, runs them in order and makes the rows.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/ares/aresrpc"
	"github.com/ares-torture/torture/bench"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/harness/local"
	"github.com/ares-torture/torture/sim"
)

// Row ids of `bench all`, in the table's order (bug rows are
// benchAllBugPrefix+name, one per bug, before the docker row).
const (
	rowABDWrite        = "latency.abd.write"
	rowABDRead         = "latency.abd.read"
	rowECWrite         = "latency.ec.write"
	rowECRead          = "latency.ec.read"
	rowWire            = "wire.ec_over_abd"
	rowLarge           = "large_write.ec_over_abd"
	rowPending         = "read_pending.pbgc_over_plain"
	rowRecorded        = "throughput.recorded_over_direct"
	rowOpsRun          = "throughput.run_ops"
	rowOpsDirect       = "throughput.direct_ops"
	rowCheck           = "check.history"
	benchAllBugPrefix  = "bug."
	rowDocker          = "throughput.docker_over_local"
	benchAllSpeedupMin = 3.0 // 10 clients: ops/s over the baseline build's
)

// benchAllSizes are the sizes and counts of one session: full, or
// --quick (a smoke test of every row in well under a minute or two).
type benchAllSizes struct {
	LatencyOps   int           `json:"latency_ops"`
	ValueSize    int           `json:"value_size"`
	WireOps      int           `json:"wire_ops"`
	WireSize     int           `json:"wire_size"`
	LargeOps     int           `json:"large_ops"`
	LargeSize    int           `json:"large_size"`
	TableServers int           `json:"table_servers"`
	TableK       int           `json:"table_k"`
	TableSize    int64         `json:"table_size"`
	TableReads   int           `json:"table_reads"`
	Pending      int           `json:"pending"`
	Time         time.Duration `json:"throughput_time_ns"`
	Rounds       int           `json:"throughput_rounds"`
	HistoryTime  time.Duration `json:"history_time_ns"`
	Seeds        int           `json:"bug_seeds"`
	DockerTime   time.Duration `json:"docker_time_ns"`
}

func benchAllDefaults(quick bool) benchAllSizes {
	if quick {
		return benchAllSizes{LatencyOps: 20, ValueSize: 1 << 10, WireOps: 2, WireSize: 256 << 10, LargeOps: 1, LargeSize: 4 << 20,
			TableServers: 5, TableK: 3, TableSize: 64 << 10, TableReads: 1, Pending: 11,
			Time: time.Second, Rounds: 1, HistoryTime: 20 * time.Second, Seeds: 1, DockerTime: 3 * time.Second}
	}
	return benchAllSizes{LatencyOps: 200, ValueSize: 1 << 10, WireOps: 5, WireSize: 1 << 20, LargeOps: 3, LargeSize: 64 << 20,
		TableServers: 11, TableK: 6, TableSize: 1 << 20, TableReads: 5, Pending: 11,
		Time: 10 * time.Second, Rounds: 3, HistoryTime: 5 * time.Minute, Seeds: 3, DockerTime: 10 * time.Second}
}

// benchAllFile is STORE/bench/all-<start>.json, and what --json prints.
type benchAllFile struct {
	Suite    string            `json:"suite"`
	Start    time.Time         `json:"start"`
	Args     []string          `json:"args"`
	Quick    bool              `json:"quick"`
	Sizes    benchAllSizes     `json:"sizes"`
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
	sz := benchAllDefaults(*quick)
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

	a := &benchAll{ctx: ctx, out: out, log: log, sz: sz, bin: bin, base: base, work: work, file: &file}
	baseName := "none (--baseline-bin not given)"
	if base != nil {
		baseName = file.Baseline
	}
	fmt.Fprintf(out, "bench all: torture %s, baseline %s; %s sizes\n", file.Versions["torture"], baseName, map[bool]string{true: "--quick", false: "full"}[*quick])
	a.latency()
	a.pending()
	a.throughput()
	a.check()
	a.bugs(bugs)
	a.docker(*noDocker)

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
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(&file); err != nil {
			fmt.Fprintf(stderr, "torture bench all: %v\n", err)
			return harness.ExitHarness
		}
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

// benchAll is one session: what every measurement shares.
type benchAll struct {
	ctx  context.Context
	out  io.Writer
	log  *slog.Logger
	sz   benchAllSizes
	bin  string
	base *bench.Baseline
	work string
	file *benchAllFile
}

func (a *benchAll) add(r bench.Row) { a.file.Rows = append(a.file.Rows, r) }

// fail adds rows with ids and names whose measurement failed with err (or
// was interrupted).
func (a *benchAll) fail(err error, rows ...bench.Row) {
	for _, r := range rows {
		r.Status, r.Note = bench.Error, err.Error()
		if a.ctx.Err() != nil {
			r.Status, r.Note = bench.Skipped, "skipped: interrupted"
		}
		a.add(r)
	}
}

func (a *benchAll) dir(name string) (string, error) {
	return os.MkdirTemp(a.work, name+"-")
}

func benchAllMS(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }

// latency: write and read over a quorum round trip, bytes per write and
// the large write, ABD and EC side by side.
func (a *benchAll) latency() {
	names := []bench.Row{
		{ID: rowABDWrite, Name: "ABD write latency / quorum RTT", Unit: "x"},
		{ID: rowABDRead, Name: "ABD read latency / quorum RTT", Unit: "x"},
		{ID: rowECWrite, Name: "EC write latency / quorum RTT", Unit: "x"},
		{ID: rowECRead, Name: "EC read latency / quorum RTT", Unit: "x"},
		{ID: rowWire, Name: fmt.Sprintf("bytes sent per %s write, EC / ABD", sizeName(int64(a.sz.WireSize))), Unit: "x"},
		{ID: rowLarge, Name: fmt.Sprintf("%s write latency, EC / ABD", sizeName(int64(a.sz.LargeSize))), Unit: "x"},
	}
	const servers, k, quorum = 5, 3, 3
	dir, err := a.dir("latency")
	if err != nil {
		a.fail(err, names...)
		return
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(a.out, "latency: ABD and EC(%d,%d) clusters of ares-server side by side, %d rounds of RTT/put/write/read of %s, %d writes of %s, %d of %s\n",
		servers, k, a.sz.LatencyOps, sizeName(int64(a.sz.ValueSize)), a.sz.WireOps, sizeName(int64(a.sz.WireSize)), a.sz.LargeOps, sizeName(int64(a.sz.LargeSize)))
	t0 := time.Now()
	res, err := bench.Latency(a.ctx, bench.LatencyOptions{ServerBin: a.bin, Dir: dir, Servers: servers, K: k, Quorum: quorum,
		Ops: a.sz.LatencyOps, ValueSize: a.sz.ValueSize, WireOps: a.sz.WireOps, WireSize: a.sz.WireSize,
		LargeOps: a.sz.LargeOps, LargeSize: a.sz.LargeSize, Logger: a.log})
	if err != nil {
		fmt.Fprintf(a.out, "  failed: %v\n", err)
		a.fail(err, names...)
		return
	}
	a.file.Latency = &res
	for _, d := range []bench.DAPLatency{res.ABD, res.EC} {
		fmt.Fprintf(a.out, "  %-3s rtt %s  quorum put %s  write %s  read %s  %s write %s, %.0f bytes sent per %s write\n", strings.ToUpper(d.DAP),
			benchAllMS(d.RTT), benchAllMS(d.Put), benchAllMS(d.Write), benchAllMS(d.Read), sizeName(int64(a.sz.LargeSize)), benchAllMS(d.LargeWrite), d.WireBytesPerWrite, sizeName(int64(a.sz.WireSize)))
	}
	fmt.Fprintf(a.out, "  done in %s\n", time.Since(t0).Round(time.Millisecond))
	// Rows in order: ABD write, ABD read, EC write, EC read.
	for i, d := range []bench.DAPLatency{res.ABD, res.ABD, res.EC, res.EC} {
		r := names[i]
		op, took := "write", d.Write
		if i%2 == 1 {
			op, took = "read", d.Read
		}
		rtt := float64(d.RTT)
		if rtt <= 0 {
			a.fail(errors.New("no round trip time"), r)
			continue
		}
		// A write needs 3 round trips and one fsync: 2 round trips and
		// one quorum put (a round trip with the fsync in it).
		lim := 2 + float64(d.Put)/rtt
		r.Value, r.Op, r.Limit = bench.F(float64(took)/rtt), bench.AtMost, bench.F(lim)
		r.LimitText = fmt.Sprintf("<= 3 RTT + fsync = %sx", bench.Num(lim))
		r.Detail = fmt.Sprintf("%s %s, RTT (read-config, %d of %d) %s, quorum put (RTT + fsync) %s", op, benchAllMS(took), quorum, servers, benchAllMS(d.RTT), benchAllMS(d.Put))
		a.add(r)
	}
	w := names[4]
	if res.ABD.WireBytesPerWrite > 0 {
		// Framing (gRPC, HTTP/2, protobuf, the small rounds) is a few
		// hundred bytes a message: 2% over 1/k allows it.
		lim := 1 / float64(k) * 1.02
		w.Value, w.Op, w.Limit = bench.F(res.EC.WireBytesPerWrite/res.ABD.WireBytesPerWrite), bench.AtMost, bench.F(lim)
		w.LimitText = fmt.Sprintf("<= 1/k = 1/%d (+2%% framing)", k)
		// The floors are the values alone, once to each server: a
		// resend (a reply later than the client's 200 ms retry) shows as
		// bytes over them.
		v := float64(a.sz.WireSize)
		w.Detail = fmt.Sprintf("EC %.0f B, ABD %.0f B sent per write (client's connections, all rounds; values alone: EC %.0f B, ABD %.0f B)",
			res.EC.WireBytesPerWrite, res.ABD.WireBytesPerWrite, float64(servers)*v/float64(k), float64(servers)*v)
		a.add(w)
	} else {
		a.fail(errors.New("no bytes counted"), w)
	}
	l := names[5]
	if res.ABD.LargeWrite > 0 {
		l.Value, l.Op, l.Limit = bench.F(float64(res.EC.LargeWrite)/float64(res.ABD.LargeWrite)), bench.AtMost, bench.F(1)
		l.LimitText = "<= 1 (EC sends 1/k)"
		l.Detail = fmt.Sprintf("EC %s, ABD %s (median of %d)", benchAllMS(res.EC.LargeWrite), benchAllMS(res.ABD.LargeWrite), a.sz.LargeOps)
		a.add(l)
	} else {
		a.fail(errors.New("no large write timed"), l)
	}
}

// pending: bench tables' Table II cell, 11 pending configurations and one
// finalized, a fresh reader's ARES read with PB and GC over without.
func (a *benchAll) pending() {
	r := bench.Row{ID: rowPending, Name: fmt.Sprintf("read after %d pending configs, PB+GC / plain ARES", a.sz.Pending), Unit: "x"}
	if a.ctx.Err() != nil {
		a.fail(a.ctx.Err(), r)
		return
	}
	dir, err := a.dir("tables")
	if err != nil {
		a.fail(err, r)
		return
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(a.out, "read after reconfigurations (bench tables' Table II): EC k=%d of %d in-process servers, %s, %d pending + 1 finalized, %d read(s) per cell\n",
		a.sz.TableK, a.sz.TableServers, sizeName(a.sz.TableSize), a.sz.Pending, a.sz.TableReads)
	tb := &tablesBench{out: benchAllIndent{a.out}, log: a.log, dataDir: dir, servers: a.sz.TableServers, k: a.sz.TableK, delta: 5,
		reads: a.sz.TableReads, limit: aresrpc.MaxMsgSize, dapII: ares.EC, pending: a.sz.Pending}
	row := newRow(scenarioPending, a.sz.TableSize, tableIICols)
	for _, gc := range []bool{false, true} {
		label := scenarioName(scenarioPending, a.sz.Pending)
		if gc {
			label += " (GC)"
		}
		if err := tb.tableIIBuild(a.ctx, label, scenarioPending, gc, []*tablesRow{row}); err != nil {
			a.fail(err, r)
			return
		}
	}
	plain, pbgc := row.Cells["ARES"], row.Cells["ARES PB&GC"]
	if plain.Reads == 0 || pbgc.Reads == 0 || plain.Median <= 0 {
		a.fail(fmt.Errorf("no figure: plain %q, PB&GC %q", plain.Error, pbgc.Error), r)
		return
	}
	q := pbgc.Median / plain.Median
	r.Value, r.Op, r.Limit = bench.F(q), bench.AtMost, bench.F(1)
	r.LimitText = "<= 1 (slides: 0.67)"
	r.Detail = fmt.Sprintf("PB+GC %s, plain %s (median of %d fresh readers; PB alone %s)", msText(pbgc.Median), msText(plain.Median), plain.Reads, cellText(row.Cells["ARES PB"]))
	if a.base != nil {
		// The baseline's bench tables, same shape (it measures the
		// finalized scenario too: it cannot leave it out).
		bdir, err := a.dir("baseline-tables")
		if err == nil {
			var bp, bg float64
			bp, bg, err = a.base.PendingRead(a.ctx, bdir, bench.TablesShape{Servers: a.sz.TableServers, K: a.sz.TableK,
				Reads: a.sz.TableReads, Pending: a.sz.Pending, Size: a.sz.TableSize})
			_ = os.RemoveAll(bdir)
			if err == nil {
				r.Baseline = bench.F(bg / bp)
				r.Detail += fmt.Sprintf("; baseline PB+GC %s, plain %s", msText(bg), msText(bp))
				fmt.Fprintf(a.out, "  baseline: PB+GC %s, plain %s\n", msText(bg), msText(bp))
			}
		}
		if err != nil {
			r.Note = "baseline: " + err.Error()
		}
	}
	a.add(r)
}

// benchAllIndent prefixes every write with two spaces (the tables bench's own
// progress lines, one per write).
type benchAllIndent struct{ w io.Writer }

func (i benchAllIndent) Write(p []byte) (int, error) {
	if _, err := io.WriteString(i.w, "  "+strings.TrimPrefix(string(p), "  ")); err != nil {
		return 0, err
	}
	return len(p), nil
}

// throughput: 10 closed-loop clients on 5 local servers, (a) proxied and
// recorded as in a run and (b) direct, this build and the baseline's in
// turn, each round.
func (a *benchAll) throughput() {
	rec := bench.Row{ID: rowRecorded, Name: "recorded / direct throughput", Unit: "x"}
	run := bench.Row{ID: rowOpsRun, Name: "10 clients, 5 local servers, as a run (proxied+recorded)", Unit: "ops/s"}
	dir := bench.Row{ID: rowOpsDirect, Name: "10 clients, 5 local servers, direct", Unit: "ops/s"}
	shape := bench.ThroughputShape{Time: a.sz.Time, Clients: 10, Servers: 5, Keys: 8}
	fmt.Fprintf(a.out, "throughput: %d round(s) of %s per measurement, %d clients, %d servers, %d keys, half reads, 64 B values\n",
		a.sz.Rounds, shape.Time, shape.Clients, shape.Servers, shape.Keys)
	var recs, dirs, baseRecs, baseDirs []float64
	var baseErr error
	for round := 1; round <= a.sz.Rounds; round++ {
		for _, recorded := range []bool{true, false} {
			if a.ctx.Err() != nil {
				a.fail(a.ctx.Err(), rec, run, dir)
				return
			}
			d, err := a.dir("throughput")
			if err != nil {
				a.fail(err, rec, run, dir)
				return
			}
			res, err := local.Throughput(a.ctx, local.ThroughputOptions{Dir: d, ServerBin: a.bin, Servers: shape.Servers,
				Clients: shape.Clients, Keys: shape.Keys, ReadRatio: 0.5, ValueSize: 64, Seed: int64(round),
				Duration: shape.Time, Direct: !recorded, Record: recorded, Logger: a.log})
			_ = os.RemoveAll(d)
			if err != nil {
				fmt.Fprintf(a.out, "  failed: %v\n", err)
				a.fail(err, rec, run, dir)
				return
			}
			mode := map[bool]string{true: modeHarness, false: modeDirect}[recorded]
			fmt.Fprintf(a.out, "  round %d this build %-17s %7.0f ops/s\n", round, mode, res.OpsPerSec)
			if recorded {
				recs = append(recs, res.OpsPerSec)
			} else {
				dirs = append(dirs, res.OpsPerSec)
			}
		}
		if a.base != nil && baseErr == nil {
			d, err := a.dir("baseline-overhead")
			if err == nil {
				var r, di float64
				r, di, err = a.base.Overhead(a.ctx, d, shape)
				if err == nil {
					baseRecs, baseDirs = append(baseRecs, r), append(baseDirs, di)
					fmt.Fprintf(a.out, "  round %d baseline   %-17s %7.0f ops/s, %s %7.0f ops/s\n", round, modeHarness, r, modeDirect, di)
				}
				_ = os.RemoveAll(d)
			}
			if err != nil {
				baseErr = err
				fmt.Fprintf(a.out, "  baseline failed: %v\n", err)
			}
		}
	}
	mr, md := bench.Median(recs), bench.Median(dirs)
	rec.Value, rec.Op, rec.Limit = bench.F(mr/md), bench.AtLeast, bench.F(0.9)
	rec.Detail = fmt.Sprintf("medians of %d: %s %.0f ops/s, %s %.0f ops/s", len(recs), modeHarness, mr, modeDirect, md)
	if len(baseRecs) > 0 {
		rec.Baseline = bench.F(bench.Median(baseRecs) / bench.Median(baseDirs))
	}
	a.add(rec)
	for _, x := range []struct {
		row  *bench.Row
		mine float64
		base []float64
	}{{&run, mr, baseRecs}, {&dir, md, baseDirs}} {
		r := *x.row
		r.Value = bench.F(x.mine)
		r.LimitText = fmt.Sprintf(">= %gx baseline", benchAllSpeedupMin)
		r.Detail = fmt.Sprintf("median of %d round(s) of %s", len(recs), shape.Time)
		switch {
		case len(x.base) > 0:
			r.Baseline = bench.F(bench.Median(x.base))
			r.Judge()
			if r.VsBaseline != nil && *r.VsBaseline >= benchAllSpeedupMin {
				r.Status = bench.Pass
			} else {
				r.Status = bench.Fail
			}
		case baseErr != nil:
			r.Status, r.Note = bench.Error, "baseline: "+baseErr.Error()
		default:
			r.Status = bench.Info
			r.Note = "no --baseline-bin"
		}
		a.add(r)
	}
}

// check: a sim run of HistoryTime simulated (every fault every second,
// the sim's defaults otherwise) makes the history; it is checked again in this
// process, timed, and by the baseline's torture check.
func (a *benchAll) check() {
	r := bench.Row{ID: rowCheck, Name: fmt.Sprintf("check time of a %s sim history", a.sz.HistoryTime), Unit: "s"}
	if a.ctx.Err() != nil {
		a.fail(a.ctx.Err(), r)
		return
	}
	store, err := a.dir("check")
	if err != nil {
		a.fail(err, r)
		return
	}
	defer os.RemoveAll(store)
	o := sim.DefaultOptions()
	o.Ops, o.Time, o.Seed, o.Store, o.Name = 0, harness.Duration(a.sz.HistoryTime), 1, store, "bench-all-history"
	// Every fault, each second, as a run with --nemesis-interval 1s: the
	// sim's 10 ms would make some 15,000 configurations in 5 minutes,
	// and minutes of wall time go to traversing them.
	o.NemesisInterval = harness.Duration(time.Second)
	if err := o.Validate(); err != nil {
		a.fail(err, r)
		return
	}
	fmt.Fprintf(a.out, "check: one sim run of %s simulated (%s) makes the history\n", a.sz.HistoryTime, shapeLine(o))
	var buf strings.Builder
	t0 := time.Now()
	res := harness.Run(a.ctx, o, harness.Env{Out: &buf, Bubble: simBubble, Args: a.file.Args})
	if res.Code == harness.ExitHarness || res.RunDir == "" {
		a.fail(fmt.Errorf("sim run: %s: %s", res.Verdict, res.Reason), r)
		return
	}
	fmt.Fprintf(a.out, "  %d operations in %s (wall), verdict %s; checking again\n", res.Counts.Completed(), time.Since(t0).Round(time.Millisecond), res.Verdict)
	t0 = time.Now()
	out := harness.CheckRun(a.ctx, harness.CheckInput{RunDir: res.RunDir, Out: filepath.Join(store, "recheck")}, io.Discard, a.log)
	took := time.Since(t0)
	if out.Code == harness.ExitHarness {
		a.fail(fmt.Errorf("check: %s", out.Reason), r)
		return
	}
	span := a.sz.HistoryTime.Seconds()
	r.Value, r.Op, r.Limit = bench.F(took.Seconds()), bench.AtMost, bench.F(span)
	r.LimitText = fmt.Sprintf("<= %s (the history's span)", a.sz.HistoryTime)
	r.Detail = fmt.Sprintf("%d operations, %d keys, every fault each %s; verdict %s", res.Counts.Completed(), o.Keys, o.NemesisInterval, out.Verdict)
	fmt.Fprintf(a.out, "  this build: %.2fs, %s\n", took.Seconds(), out.Verdict)
	if a.base != nil {
		d, verdict, err := a.base.Check(a.ctx, res.RunDir, filepath.Join(store, "recheck-baseline"))
		if err != nil {
			r.Note = "baseline: " + err.Error()
		} else {
			r.Baseline = bench.F(d.Seconds())
			r.Detail += fmt.Sprintf("; baseline's verdict %s", verdict)
			fmt.Fprintf(a.out, "  baseline:   %.2fs, %s\n", d.Seconds(), verdict)
		}
	}
	a.add(r)
}

// bugs: bench bugs' sim runs, seeds 1..Seeds per bug: the wall time to
// the first run that found it (every run before it counted), beside the
// baseline's bench bugs of the same seeds.
func (a *benchAll) bugs(bugs []ares.Bug) {
	store, err := a.dir("bugs")
	if err != nil {
		var rows []bench.Row
		for _, b := range bugs {
			rows = append(rows, bench.Row{ID: benchAllBugPrefix + string(b), Name: "time to find " + string(b) + " (sim)", Unit: "s"})
		}
		a.fail(err, rows...)
		return
	}
	defer os.RemoveAll(store)
	fmt.Fprintf(a.out, "bugs: %d bug(s) x %d seed(s) on the sim backend (bench bugs' shapes)\n", len(bugs), a.sz.Seeds)
	var runs []bugRun
	for _, b := range bugs {
		o := sim.BugOptions(b)
		o.Store = store
		if err := o.Validate(); err != nil {
			runs = append(runs, bugRun{Bug: string(b), Outcome: outHarness, Reason: err.Error()})
			continue
		}
		for seed := int64(1); seed <= int64(a.sz.Seeds); seed++ {
			if a.ctx.Err() != nil {
				break
			}
			o.Seed = seed
			label := fmt.Sprintf("  %-17s seed %d", b, seed)
			r := benchBugRun(a.ctx, o, label, a.out, a.file.Args)
			fmt.Fprintln(a.out, bugRunLine(label, r))
			runs = append(runs, r)
			if r.RunDir != "" {
				_ = os.RemoveAll(r.RunDir)
			}
		}
	}
	var baseline map[string]bench.BugFigure
	var baseErr error
	if a.base != nil && a.ctx.Err() == nil {
		d, err := a.dir("baseline-bugs")
		if err == nil {
			var names []string
			if len(bugs) != len(ares.Bugs) {
				for _, b := range bugs {
					names = append(names, string(b))
				}
			}
			fmt.Fprintf(a.out, "  baseline: bench bugs --backend sim --seeds %d\n", a.sz.Seeds)
			baseline, err = a.base.Bugs(a.ctx, d, a.sz.Seeds, names)
			_ = os.RemoveAll(d)
		}
		baseErr = err
	}
	for _, s := range summarizeBugs(bugs, runs) {
		r := bench.Row{ID: benchAllBugPrefix + s.Bug, Name: "time to find " + s.Bug + " (sim)", Unit: "s",
			LimitText: fmt.Sprintf("found in %d seed(s)", a.sz.Seeds)}
		switch {
		case s.HarnessFailures > 0:
			r.Status, r.Note = bench.Error, fmt.Sprintf("%d harness failure(s)", s.HarnessFailures)
		case s.Interrupted > 0 && s.Found == 0:
			r.Status, r.Note = bench.Skipped, "skipped: interrupted"
		case s.WallToFindS != nil:
			r.Value, r.Status = bench.F(*s.WallToFindS), bench.Pass
		default:
			r.Status, r.Note = bench.Fail, "not found"
		}
		r.Detail = fmt.Sprintf("found %d/%d", s.Found, s.Runs)
		if s.RunsToFirst != nil {
			r.Detail += fmt.Sprintf(", first by run %d", *s.RunsToFirst)
		}
		if f := s.FirstViolationS; f != nil {
			r.Detail += fmt.Sprintf(", first violation at %.2fs simulated (median)", f.Median)
		}
		if bf, ok := baseline[s.Bug]; ok {
			r.Baseline = nil
			if bf.WallToFindS != nil {
				r.Baseline = bench.F(*bf.WallToFindS)
			}
			r.Detail += fmt.Sprintf("; baseline found %d/%d", bf.Found, bf.Runs)
		} else if baseErr != nil {
			r.Note = strings.TrimPrefix(r.Note+"; baseline: "+baseErr.Error(), "; ")
		}
		a.add(r)
	}
}

// docker: the same closed-loop run on the docker and the local backend,
// no faults, no tracing, each backend's TLS default; ops/s docker over
// local.
func (a *benchAll) docker(off bool) {
	r := bench.Row{ID: rowDocker, Name: "docker / local throughput (10 clients, 5 servers, a run)", Unit: "x"}
	switch {
	case off:
		r.Status, r.Note = bench.Skipped, "skipped: --no-docker"
	case a.ctx.Err() != nil:
		r.Status, r.Note = bench.Skipped, "skipped: interrupted"
	default:
		cctx, cancel := context.WithTimeout(a.ctx, 20*time.Second)
		err := exec.CommandContext(cctx, "docker", "info").Run()
		if err != nil {
			why := err.Error()
			if errors.Is(cctx.Err(), context.DeadlineExceeded) {
				why = "no answer within 20s"
			}
			r.Status, r.Note = bench.Skipped, "skipped: docker unavailable (docker info: "+why+")"
		}
		cancel()
	}
	if r.Status != "" {
		a.add(r)
		return
	}
	store, err := a.dir("docker")
	if err != nil {
		a.fail(err, r)
		return
	}
	defer os.RemoveAll(store)
	fmt.Fprintf(a.out, "docker: a run of %s on the docker backend, then on the local backend (no faults, no tracing)\n", a.sz.DockerTime)
	ops := map[string]float64{}
	for _, backend := range []string{"docker", "local"} {
		o := harness.DefaultOptions()
		o.Backend, o.Store, o.ServerBin, o.Name, o.Seed = backend, store, a.bin, "bench-all-"+backend, 1
		o.Time, o.Trace, o.Pool = harness.Duration(a.sz.DockerTime), false, 5
		if err := o.Validate(); err != nil {
			a.fail(err, r)
			return
		}
		var buf strings.Builder
		res := harness.Run(a.ctx, o, harness.Env{Out: &buf, Args: a.file.Args})
		if res.Code != harness.ExitValid {
			a.fail(fmt.Errorf("%s run: %s: %s (%s)", backend, res.Verdict, res.Reason, orDash(res.RunDir)), r)
			return
		}
		ops[backend] = float64(res.Counts.Completed()) / a.sz.DockerTime.Seconds()
		fmt.Fprintf(a.out, "  %-6s %7.0f ops/s\n", backend, ops[backend])
		_ = os.RemoveAll(res.RunDir)
	}
	r.Value = bench.F(ops["docker"] / ops["local"])
	r.LimitText = "- (baseline: local)"
	r.Detail = fmt.Sprintf("docker %.0f ops/s, local %.0f ops/s, %s each", ops["docker"], ops["local"], a.sz.DockerTime)
	a.add(r)
}
