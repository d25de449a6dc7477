package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBadFlags(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ args, want string }{
		{"", "--id is required"},
		{"--id s1", "--data is required"},
		{"--id s1 --data " + dir + " --nope", "flag provided but not defined: -nope"},
		{"--id s1 --data " + dir + " --bug nope", `unknown bug "nope"`},
		{"--id s1 --data " + dir + " --bug short-quorum", "client bug"},
		{"--id s1 --data " + dir + " --delta 0", "--delta must be >= 1"},
		{"--id s1 --data " + dir + " --delta x", "invalid value"},
		{"--id s1 --data " + dir + " --max-reply-bytes 0", "--max-reply-bytes must be >= 1"},
		{"--id s1 --data " + dir + " --listen nonsense", "want HOST:PORT"},
		{"--id s1 --data " + dir + " --log-level loud", "--log-level"},
		{"--id s1 --data " + dir + " extra", `unexpected argument "extra"`},
	}
	for _, c := range cases {
		t.Run(c.args, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(strings.Fields(c.args), &stdout, &stderr); code != 2 {
				t.Errorf("exit %d; want 2", code)
			}
			msg := stderr.String()
			if !strings.HasPrefix(msg, "ares-server: ") || !strings.Contains(msg, c.want) || strings.Count(msg, "\n") != 1 {
				t.Errorf("stderr %q; want one line containing %q", msg, c.want)
			}
		})
	}
}

func TestVersionAndHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--version"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "ares-server ") {
		t.Errorf("--version: exit %d, %q", code, stdout.String())
	}
	stdout.Reset()
	if code := run([]string{"--help"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "--data") {
		t.Errorf("--help: exit %d, %q", code, stdout.String())
	}
}

// TestServeAndStop serves on a free port until the context ends (what
// SIGTERM does), then checks the clean exit and that the store was created.
func TestServeAndStop(t *testing.T) {
	data := filepath.Join(t.TempDir(), "new", "dir")
	c, _, err := parseFlags([]string{"--id", "s1", "--listen", "127.0.0.1:0", "--data", data}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- serve(ctx, c, slog.New(slog.DiscardHandler), pw)
		pw.Close()
	}()
	line := make([]byte, 64)
	n, err := pr.Read(line)
	if err != nil || !strings.HasPrefix(string(line[:n]), "listening on 127.0.0.1:") {
		t.Fatalf("first output %q, %v", line[:n], err)
	}
	go io.Copy(io.Discard, pr)
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(2 * stopGrace):
		t.Fatal("serve did not return after its context ended")
	}
	if _, err := os.Stat(filepath.Join(data, "ares.db")); err != nil {
		t.Fatalf("store not created: %v", err)
	}
}
