// Command torture is the ARES torture-test controller: it runs a real ARES
// cluster under faults, records every operation, checks the history for
// atomicity and keeps every run in a run store.
//
//	torture run [flags]           run a test; see torture run --help
//	torture check RUN_DIR         re-check a stored history
//	torture rerun RUN_DIR         run a stored test again, same options and seed
//	torture shrink RUN_DIR        cut a failing run down to a small one that still fails
//	torture sim --seeds A..B      many seeds of the simulation backend in parallel
//	torture serve                 browse the run store
//	torture bench SUITE [flags]   the performance suite: bugs, overhead, sim
//	torture clean [--all]         kill what earlier runs left behind
//	torture certs --out DIR NAME  a CA and node certificates (docker-compose.yml's mutual TLS)
//
// Exit codes: 0 valid, 1 a violation was found, 2 unknown (the checker gave
// up, too little completed, or the run was interrupted), 3 the harness
// itself failed or the command line was wrong. The last line printed is a
// one-line verdict with the run directory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ares-torture/torture/harness"
	_ "github.com/ares-torture/torture/harness/docker" // --backend docker
	"github.com/ares-torture/torture/harness/junit"
	"github.com/ares-torture/torture/sim"
)

// version is stamped by the Makefile (-X main.version); test.json
// records it as the controller's version.
var version string

func main() {
	harness.ControllerVersion = version
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
}

// Main runs the command line args and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if len(args) == 0 {
		usage(stderr)
		return usageError(stdout, "no command given")
	}
	ctx, stop := interruptible(stderr)
	defer stop()
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr, log)
	case "check":
		return cmdCheck(ctx, args[1:], stdout, stderr, log)
	case "rerun":
		return cmdRerun(ctx, args[1:], stdout, stderr, log)
	case "shrink":
		return cmdShrink(ctx, args[1:], stdout, stderr)
	case "sim":
		return cmdSim(ctx, args[1:], stdout, stderr, log)
	case "serve":
		return cmdServe(ctx, args[1:], stdout, stderr)
	case "clean":
		return cmdClean(ctx, args[1:], stdout, stderr, log)
	case "bench":
		return cmdBench(ctx, args[1:], stdout, stderr, log)
	case "certs":
		return cmdCerts(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	default:
		usage(stderr)
		return usageError(stdout, fmt.Sprintf("unknown command %q", args[0]))
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: torture COMMAND [flags]

commands:
  run                 run a test (torture run --help lists every flag and --server-bug)
  check RUN_DIR       re-check a stored history (RUN_DIR or its history.jsonl)
  rerun RUN_DIR       run a stored test again with the same options and seed
  shrink RUN_DIR      cut an invalid run down to a small one that still fails (torture shrink --help)
  sim --seeds A..B    run many seeds of the deterministic simulation in parallel (torture sim --help)
  serve               browse the run store over HTTP
  bench SUITE         the performance suite: bugs (time to find each --server-bug), overhead (harness cost), sim (simulation speed)
  clean [--all]       kill server processes (and docker resources) of earlier runs (torture clean --help)
  certs --out DIR N.. a certificate authority and certificates for nodes N.. (mutual TLS by hand, docker-compose.yml; torture certs --help)

exit codes: 0 valid, 1 violation found, 2 unknown, 3 harness failure or bad command line
`)
}

// usageError prints the verdict line of a command line that was wrong.
func usageError(stdout io.Writer, msg string) int {
	o := &harness.Outcome{Code: harness.ExitHarness, Verdict: "error", Reason: "usage: " + msg}
	fmt.Fprintln(stdout, o.Line())
	return harness.ExitHarness
}

// runFlags binds every option of a run to fs.
func runFlags(fs *flag.FlagSet, o *harness.Options) {
	fs.StringVar(&o.Backend, "backend", o.Backend, "cluster backend: local (processes on loopback), docker, or sim (deterministic simulation in this process, with defaults of its own: 1,000 operations at 200/s, every fault every 10ms, simulated time)")
	fs.IntVar(&o.Servers, "servers", o.Servers, "servers of the initial configuration (the first of the pool)")
	fs.IntVar(&o.Pool, "pool", o.Pool, "servers started; reconfigurations move within the pool")
	fs.IntVar(&o.Clients, "clients", o.Clients, "concurrent workload clients")
	fs.IntVar(&o.Keys, "keys", o.Keys, "keys (objects) of the workload")
	fs.StringVar(&o.DAP, "dap", o.DAP, "data access primitive of the initial configuration: abd or ec")
	fs.IntVar(&o.ECK, "ec-k", o.ECK, "EC data shards k (1 <= k < servers)")
	fs.StringVar(&o.Workload, "workload", o.Workload, "register (small values), large (MiB objects), cover (coverable registers) or file (fragmented files, edited)")
	fs.Float64Var(&o.ReadRatio, "read-ratio", o.ReadRatio, "share of reads")
	fs.IntVar(&o.ValueSize, "value-size", o.ValueSize, "bytes per written value (0: the workload's default, 64 B for register and cover, 1 MiB for large); file: each file's first size (default 1 MiB)")
	fs.StringVar(&o.Dist, "dist", o.Dist, "key choice: uniform or zipf")
	fs.Float64Var(&o.Rate, "rate", o.Rate, "total operations per second over all clients (0: closed loop)")
	fs.StringVar(&o.Nemesis, "nemesis", o.Nemesis, "faults: none, all, or a comma list of partition,kill,pause,loss,latency,drop,skew,power,crash,steer,reconfig")
	fs.IntVar(&o.Reconfigurers, "reconfigurers", o.Reconfigurers, "clients that may reconfigure at once: the reconfig fault races up to this many (default 1; the sim's 2)")
	fs.Var(&o.NemesisInterval, "nemesis-interval", "quiet time before each fault, and how long it is held")
	fs.Var(&o.Time, "time", "how long clients run (sim: simulated time)")
	fs.IntVar(&o.Ops, "ops", o.Ops, "stop after this many operations in all, split evenly over the clients (0: no bound)")
	fs.Var(&o.OpTimeout, "op-timeout", "an operation taking longer is indeterminate (info)")
	fs.Var(&o.Settle, "settle", "wait after healing every fault, before the final reads")
	fs.Var(&o.CheckTimeout, "check-timeout", "time limit of the linearizability check (then the verdict is unknown)")
	fs.Int64Var(&o.Seed, "seed", o.Seed, "seed of every random choice (default: from the clock, printed)")
	fs.StringVar(&o.Store, "store", o.Store, "run store directory")
	fs.StringVar(&o.ServerBug, "server-bug", o.ServerBug, "switch on a named protocol bug (see below)")
	fs.StringVar(&o.Name, "name", o.Name, "test name, the run store folder (default: derived from the options)")
	fs.BoolVar(&o.PB, "pb", o.PB, "ARES II piggyback (--pb=false to switch off)")
	fs.BoolVar(&o.GC, "gc", o.GC, "ARES II garbage collection of old configurations (--gc=false to switch off)")
	fs.BoolVar(&o.Trace, "trace", o.Trace, "OpenTelemetry spans of every operation, phase and request into RUN_DIR/traces/ (OTLP JSON), and where the time goes (--trace=false to switch off; the sim's default is off)")
	fs.StringVar(&o.OTLPEndpoint, "otlp-endpoint", o.OTLPEndpoint, "also send the spans to this OTLP/HTTP collector (host:port or URL)")
	fs.StringVar(&o.Thrifty, "thrifty", o.Thrifty, "clients send the requests of reads and writes to a quorum first (a write's get-tag still goes to every server), one more server when one fails or the quorum is late: auto (on for local and docker, off for sim, whose seeds keep their schedules), on, or off (every server asked at once, as the spec's pseudo-code)")
	fs.StringVar(&o.TLS, "tls", o.TLS, "mutual TLS between controller, clients, agents and servers, with a CA the run makes in RUN_DIR/tls/: auto (on for docker, off for local; the sim has no network), on or off")
	fs.StringVar(&o.ServerBin, "server-bin", o.ServerBin, "ares-server binary (default: next to torture, then ./bin)")
}

func runUsage(fs *flag.FlagSet) func() {
	return func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: torture run [flags]\n\nflags:\n")
		fs.PrintDefaults()
		bugHelp(w)
		fmt.Fprintf(w, "\nexit codes: 0 valid, 1 violation found, 2 unknown (checker gave up, too few ops, or interrupted),\n"+
			"3 harness failure or bad command line. The last line printed is the verdict with the run directory.\n")
	}
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	opts := harness.DefaultOptions()
	if backendArg(args) == "sim" {
		// The sim's own defaults (1,000 operations, a fault every 10 ms of
		// simulated time): the real backends' 60 s closed loop would be
		// hundreds of thousands of simulated operations.
		opts = sim.DefaultOptions()
	}
	fs := flag.NewFlagSet("torture run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runFlags(fs, &opts)
	// --junit (wired by the docker/nightly owner; the writer is harness/junit):
	// not an option of the test, so not in test.json.
	junitFile := fs.String("junit", "", "append this run to a JUnit XML `file` as one test case (verdict, run dir, seed)")
	// A wrong flag gets a pointer to the help, not all of it (and --help
	// the help alone).
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			runUsage(fs)()
			return 0
		}
		fmt.Fprintln(stderr, "see: torture run --help")
		return usageError(stdout, err.Error())
	}
	if fs.NArg() > 0 {
		return usageError(stdout, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["seed"] {
		opts.Seed = time.Now().UnixNano()
	}
	if !set["value-size"] && (opts.Workload == "large" || opts.Workload == "file") {
		opts.ValueSize = 0
	}
	if !set["keys"] && opts.Workload == "large" {
		opts.Keys = 2
	}
	if err := opts.Validate(); err != nil {
		return usageError(stdout, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	bin, err := serverBinFor(opts)
	if err != nil {
		return usageError(stdout, err.Error())
	}
	opts.ServerBin = bin
	if *junitFile != "" {
		// Found out now, not after the whole run has been spent.
		if err := junitWritable(*junitFile); err != nil {
			return usageError(stdout, "--junit: "+err.Error())
		}
	}
	t0 := time.Now()
	out := harness.Run(ctx, opts, harness.Env{Out: stdout, Log: log, Args: append([]string{"torture", "run"}, args...)})
	if *junitFile != "" {
		if err := junit.Append(*junitFile, junit.Case{Suite: "torture", Name: opts.Name, Verdict: out.Verdict, Code: out.Code,
			Reason: out.Reason, RunDir: out.RunDir, Seed: opts.Seed, Time: time.Since(t0), Output: out.Line()}); err != nil {
			fmt.Fprintf(stderr, "torture run: --junit: %v\n", err)
			if out.Code == harness.ExitValid {
				return harness.ExitHarness
			}
		}
	}
	return out.Code
}

// junitWritable checks that junit.Append will be able to add a case to
// path at the end of the run: an existing file must be a JUnit document it
// can read, and the folder must take the temporary file it renames over
// path. It creates the folder (as Append would) and leaves nothing else.
func junitWritable(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if st, err := os.Stat(path); err == nil {
		if !st.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", path)
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		_, err = junit.Decode(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".junit-*.xml")
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w", dir, err)
	}
	tmp.Close()
	return os.Remove(tmp.Name())
}

// backendArg is the value of --backend among args ("" when absent), read
// before the flags are parsed because it picks their defaults.
func backendArg(args []string) string {
	for i, a := range args {
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "backend" {
			continue
		}
		if hasVal {
			return val
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// serverBinFor finds the ares-server binary for a backend that runs one
// (the sim backend runs the servers in this process).
func serverBinFor(o harness.Options) (string, error) {
	if o.Backend == "sim" {
		return "", nil
	}
	return findServerBin(o.ServerBin)
}

// findServerBin finds ares-server: the flag, then next to this executable,
// then ./bin.
func findServerBin(flagValue string) (string, error) {
	if flagValue != "" {
		if _, err := os.Stat(flagValue); err != nil {
			return "", fmt.Errorf("--server-bin: %w", err)
		}
		return filepath.Abs(flagValue)
	}
	var tried []string
	if exe, err := os.Executable(); err == nil {
		tried = append(tried, filepath.Join(filepath.Dir(exe), "ares-server"))
	}
	tried = append(tried, filepath.Join("bin", "ares-server"))
	for _, p := range tried {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return filepath.Abs(p)
		}
	}
	return "", fmt.Errorf("ares-server binary not found (looked at %s): run `make build` first, or pass --server-bin",
		strings.Join(tried, ", "))
}

func cmdRerun(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("torture rerun", flag.ContinueOnError)
	fs.SetOutput(stderr)
	count := fs.Int("count", 1, "run the test this many times, stopping at the first violation")
	serverBin := fs.String("server-bin", "", "ares-server binary (default: next to torture, then ./bin)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: torture rerun [--count N] RUN_DIR\n\n"+
			"Runs the test of RUN_DIR again with its options and seed (from test.json), into the same run store.\n"+
			"Exit code: 1 if any run found a violation, else 3 if the harness failed, else 2 if any was unknown, else 0.\n")
		fs.PrintDefaults()
	}
	if err := parseInterspersed(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return usageError(stdout, err.Error())
	}
	if fs.NArg() != 1 || *count < 1 {
		fs.Usage()
		return usageError(stdout, "rerun needs one RUN_DIR and --count >= 1")
	}
	dir, err := filepath.EvalSymlinks(fs.Arg(0))
	if err != nil {
		return usageError(stdout, err.Error())
	}
	ti, err := harness.ReadTestInfo(dir)
	if err != nil {
		return usageError(stdout, err.Error())
	}
	opts := ti.Options
	opts.Seed = ti.Seed
	// Into the store the run lives in (store/<test>/<run>), wherever the
	// original command was started from.
	opts.Store = filepath.Dir(filepath.Dir(dir))
	opts.ServerBin = *serverBin
	if opts.ServerBin, err = serverBinFor(opts); err != nil {
		return usageError(stdout, err.Error())
	}
	worst := 0
	for i := 1; i <= *count; i++ {
		if *count > 1 {
			fmt.Fprintf(stdout, "rerun %d of %d\n", i, *count)
		}
		out := harness.Run(ctx, opts, harness.Env{Out: stdout, Log: log, Args: append([]string{"torture", "rerun"}, args...)})
		worst = worse(worst, out.Code)
		if out.Code == harness.ExitInvalid || out.Code == harness.ExitHarness || ctx.Err() != nil {
			break
		}
	}
	return worst
}

// worse orders exit codes by how bad they are: a violation, then a
// harness failure, then unknown, then valid.
func worse(a, b int) int {
	rank := map[int]int{0: 0, 2: 1, 3: 2, 1: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// parseInterspersed parses flags that may come before or after the
// positional arguments (torture check RUN_DIR --check-timeout 1m).
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return fs.Parse(pos) // leaves pos as fs.Args(); none start with '-'
}
