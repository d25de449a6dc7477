package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestCleanHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"clean", "--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"usage: torture clean [--all]", "controller", "-all", "docker"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("clean --help lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestCleanBadArgs(t *testing.T) {
	for _, args := range [][]string{{"clean", "--nope"}, {"clean", "extra"}} {
		var stdout, stderr bytes.Buffer
		if code := Main(args, &stdout, &stderr); code != 3 || !strings.Contains(stdout.String(), "usage:") {
			t.Errorf("%v: exit %d, stdout %q; want 3 and a usage verdict", args, code, stdout.String())
		}
	}
}

// TestCleanAll: --all (the flag docker's "use --all to remove it too"
// names) reaches the docker clean that removes live-looking runs too.
func TestCleanAll(t *testing.T) {
	called := false
	old := dockerCleanAll
	dockerCleanAll = func(context.Context, *slog.Logger) error { called = true; return nil }
	t.Cleanup(func() { dockerCleanAll = old })
	var stdout, stderr bytes.Buffer
	code := Main([]string{"clean", "--all"}, &stdout, &stderr)
	if !called {
		t.Fatalf("--all did not reach the docker clean (exit %d, stdout %q, stderr %q)", code, stdout.String(), stderr.String())
	}
	if code != 0 || !strings.Contains(stdout.String(), "docker: cleaned") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}
