// Command torture-nightly runs the nightly torture matrix (see package
// harness/nightly): backend x DAP x nemesis x seed, one `torture run` per
// cell, then the sim cell (--sim-seeds of the simulation backend in one
// `torture sim`, the first invalid seeds shrunk), with a JUnit XML file, a
// summary table and copies of the failing runs in --out. It exits 1 if any
// run is invalid, unknown (unless --allow-unknown names its cell; never
// for a sim seed) or its harness failed (or a docker run left resources
// behind), 3 if the nightly itself could not run, and 0 otherwise.
//
//	torture-nightly [--backends local,docker] [--daps abd,ec,mixed]
//	                [--nemeses partition,kill,pause,loss,reconfig,all]
//	                [--seeds fixed,fresh] [--time 10s] [--out nightly]
//	                [--allow-unknown CELLS=REASON ...] [--sim-seeds 1..1000]
//	                [--sim-shrink 3] [-- EXTRA TORTURE FLAGS]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ares-torture/torture/harness/docker"
	"github.com/ares-torture/torture/harness/nightly"
)

func main() { os.Exit(run()) }

func run() int {
	m := nightly.Matrix{}
	backends := flag.String("backends", strings.Join(nightly.AllBackends, ","), "backends to run")
	daps := flag.String("daps", strings.Join(nightly.AllDAPs, ","), "DAPs: abd, ec, mixed (starts ABD, reconfigurations switch between ABD and EC)")
	nemeses := flag.String("nemeses", strings.Join(nightly.AllNemeses, ";"), "--nemesis values, separated by ';' (each may be a comma list)")
	seeds := flag.String("seeds", strings.Join(nightly.AllSeeds, ","), "fixed (--fixed-seed) and/or fresh (from the clock)")
	flag.Int64Var(&m.FixedSeed, "fixed-seed", 1, "the fixed seed")
	flag.IntVar(&m.ECK, "ec-k", 3, "--ec-k of the ec cells")
	flag.DurationVar(&m.Time, "time", 10*time.Second, "--time of every run")
	flag.DurationVar(&m.Interval, "nemesis-interval", 2*time.Second, "--nemesis-interval of every run")
	flag.DurationVar(&m.Timeout, "run-timeout", 3*time.Minute, "how long a run may take beyond --time before it is stopped")
	flag.StringVar(&m.Torture, "torture", "", "torture binary (default: next to this command, then bin/torture)")
	flag.StringVar(&m.Out, "out", "nightly", "output directory (runs/, junit.xml, summary.md, failed/)")
	flag.StringVar(&m.Filter, "filter", "", "run only cells whose name contains this")
	flag.Func("allow-unknown", "`CELLS=REASON`: cells whose name contains CELLS may end unknown without failing, for REASON (repeatable)",
		func(s string) error {
			a, err := nightly.ParseAllowance(s)
			if err == nil {
				m.AllowUnknown = append(m.AllowUnknown, a)
			}
			return err
		})
	flag.StringVar(&m.SimSeeds, "sim-seeds", nightly.DefaultSimSeeds, "seeds of the sim cell (torture sim --seeds: A..B, N, or a comma list; empty: no sim cell); any seed not valid fails the nightly")
	flag.IntVar(&m.SimWorkers, "sim-workers", 0, "torture sim --workers (0: every core)")
	flag.IntVar(&m.SimShrink, "sim-shrink", nightly.DefaultSimShrink, "shrink this many invalid sim seeds, the first ones (torture shrink)")
	flag.IntVar(&m.SimShrinkRuns, "sim-shrink-runs", nightly.DefaultSimShrinkRuns, "torture shrink --max-runs of each")
	flag.DurationVar(&m.SimTimeout, "sim-timeout", nightly.DefaultSimTimeout, "how long torture sim may take before it is stopped")
	verbose := flag.Bool("v", false, "debug log")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: torture-nightly [flags] [-- extra torture run flags]")
		flag.PrintDefaults()
	}
	flag.Parse()
	m.Extra = flag.Args()
	m.Backends = split(*backends, ",")
	m.DAPs = split(*daps, ",")
	m.Nemeses = split(*nemeses, ";")
	m.Seeds = split(*seeds, ",")
	if m.Torture == "" {
		m.Torture = nextToMe("torture")
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	results, err := nightly.Run(ctx, &m, os.Stdout, log)
	code := 0
	for _, r := range results {
		if r.Failed() {
			code = 1
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "torture-nightly:", err)
		code = 3
	}
	if slices.Contains(m.Backends, "docker") {
		if left := dockerLeftovers(ctx); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "torture-nightly: docker runs left %d resources behind:\n  %s\n", len(left), strings.Join(left, "\n  "))
			if code == 0 {
				code = 1
			}
		}
	}
	fmt.Printf("nightly: junit %s, summary %s, exit %d\n", filepath.Join(m.Out, "junit.xml"), filepath.Join(m.Out, "summary.md"), code)
	return code
}

// dockerLeftovers lists the project's resources still on the engine.
func dockerLeftovers(ctx context.Context) []string {
	cli, err := docker.NewDockerClient()
	if err != nil {
		return []string{"cannot check: " + err.Error()}
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	left, err := docker.Leftovers(ctx, cli)
	if err != nil {
		return []string{"cannot check: " + err.Error()}
	}
	return left
}

func split(s, sep string) []string {
	var out []string
	for _, p := range strings.Split(s, sep) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// nextToMe finds name next to this executable, else in ./bin.
func nextToMe(name string) string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return filepath.Join("bin", name)
}
