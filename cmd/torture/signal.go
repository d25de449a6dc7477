package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/harness/docker"
	"github.com/ares-torture/torture/harness/local"
)

// signalGrace is how long after the first interrupt another one counts as
// the same: GNU timeout sends SIGTERM to the process and then to its
// process group (the process again), and a terminal's Ctrl-C pressed twice
// by a hurried hand comes tens of milliseconds apart. Either would
// otherwise take the kill-at-once path meant for a second, deliberate
// request.
const signalGrace = time.Second

// killTimeout bounds the kill-at-once path's removal of docker resources:
// a stuck engine must not keep the process from exiting for ever.
const killTimeout = 30 * time.Second

// interruptible returns a context cancelled by the first SIGINT or SIGTERM,
// so a run stops in order (servers stopped, containers removed, history
// checked). Another signal within signalGrace is the same interrupt; one
// after it kills every server at once, removes this process's docker
// resources, and exits 2 (unknown: the history is not checked).
func interruptible(stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	var mu sync.Mutex
	killing := false // the kill-at-once path has begun; it ends in os.Exit
	go func() {
		var first time.Time
		select {
		case <-done:
			return
		case s := <-ch:
			first = time.Now()
			fmt.Fprintf(stderr, "\ntorture: %v: stopping in order (again to kill at once)\n", s)
			cancel()
		}
		for {
			select {
			case <-done:
				return
			case s := <-ch:
				if time.Since(first) < signalGrace {
					continue // the same interrupt, delivered twice
				}
				mu.Lock()
				if !killing {
					select {
					case <-done:
						// Main has returned: its verdict line is out.
						mu.Unlock()
						return
					default:
					}
				}
				killing = true
				mu.Unlock()
				killAtOnce(s, stderr)
			}
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		mu.Lock()
		if killing {
			// The kill-at-once path is removing what the run made and
			// will exit: returning now would exit before it is done.
			mu.Unlock()
			select {}
		}
		close(done)
		mu.Unlock()
		cancel()
	}
}

// killAtOnce is the repeated interrupt's path: SIGKILL to every local
// server, removal of every container, network, volume and host iptables
// rule this process made (by its owner label, waiting for creates the
// daemon has not answered yet), one verdict line, exit 2.
func killAtOnce(s os.Signal, stderr io.Writer) {
	fmt.Fprintf(stderr, "\ntorture: %v again: killing every server, removing this run's containers and exiting\n", s)
	// Further signals must not end the process half-way through the
	// removal (that is how whole clusters leaked); it is bounded instead.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM)
	local.KillAll()
	ctx, cancel := context.WithTimeout(context.Background(), killTimeout)
	defer cancel()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	code := harness.ExitUnknown
	reason := "killed by a repeated interrupt: the history is not checked"
	if err := docker.RemoveOwn(ctx, log); err != nil {
		fmt.Fprintf(stderr, "torture: %v (torture clean removes the rest)\n", err)
		code = harness.ExitHarness
		reason += "; " + err.Error()
	}
	o := &harness.Outcome{Code: code, Verdict: "unknown", Reason: reason}
	if code == harness.ExitHarness {
		o.Verdict = "error"
	}
	// Still end with a verdict line, as every command does.
	fmt.Fprintln(os.Stdout, o.Line())
	os.Exit(code)
}
