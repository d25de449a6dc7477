package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/harness/docker"
	"github.com/ares-torture/torture/harness/local"
)

// dockerCleanAll is the docker backend's clean with --all: the resources
// of runs whose controller looks alive go too. A variable for the tests.
var dockerCleanAll = func(ctx context.Context, log *slog.Logger) error {
	cli, err := docker.NewDockerClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	return docker.CleanWith(ctx, cli, log, true)
}

func cmdClean(ctx context.Context, args []string, stdout, stderr io.Writer, _ *slog.Logger) int {
	fs := flag.NewFlagSet("torture clean", flag.ContinueOnError)
	fs.SetOutput(stderr)
	all := fs.Bool("all", false, "docker: also remove the resources of runs whose controller looks alive (another host's run, or a live process); local server processes of a live controller are always left alone")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: torture clean [--all]\n\n"+
			"Removes what earlier runs left behind when their controller died (a crash, a kill -9):\n"+
			"  local   ares-server processes whose torture controller is gone (SIGKILL to the group)\n"+
			"  docker  the runs' containers, networks, volumes and iptables rules (a run whose\n"+
			"          controller is still alive is left alone and named, unless --all)\n"+
			"Runs still going on are safe: their servers and containers are kept. Run directories\n"+
			"in the run store are never touched. A backend whose engine is not there (no docker)\n"+
			"is reported and makes the exit code 3.\n\n"+
			"flags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return 0
		}
		return usageError(stdout, err.Error())
	}
	if fs.NArg() > 0 {
		return usageError(stdout, fmt.Sprintf("unexpected argument %q (torture clean takes only --all)", fs.Arg(0)))
	}
	// What clean does and leaves (the runs left alone, with the --all
	// hint) is info: shown, unlike a run's.
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// local.Clean's own log would repeat the lines printed below.
	killed, err := local.Clean(nil)
	for _, l := range killed {
		fmt.Fprintf(stdout, "killed ares-server pid %d (controller %d gone, run %s)\n", l.PID, l.Owner, l.RunDir)
	}
	fmt.Fprintf(stdout, "local: %d leftover server processes killed\n", len(killed))
	code := 0
	if err != nil {
		fmt.Fprintf(stderr, "torture clean: local: %v\n", err)
		code = harness.ExitHarness
	}
	for name, b := range harness.Backends() {
		if name == "local" || b.Clean == nil {
			continue
		}
		clean := b.Clean
		if *all && name == "docker" {
			clean = dockerCleanAll
		}
		if err := clean(ctx, log); err != nil {
			// A backend whose engine is not there has nothing to clean.
			fmt.Fprintf(stderr, "torture clean: %s: %v\n", name, err)
			code = harness.ExitHarness
		} else {
			fmt.Fprintf(stdout, "%s: cleaned\n", name)
		}
	}
	return code
}
