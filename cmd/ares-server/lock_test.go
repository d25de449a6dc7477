package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares/store"
)

// holdLock opens the store in dir as a first server would: a second open
// of the same file, even in this process, finds it locked.
func holdLock(t *testing.T, dir string) {
	t.Helper()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
}

// TestLockedDataDirFailsFast: a second server on a directory in use fails
// after lockTimeout (not bbolt's 10 s default) with an error that says so.
func TestLockedDataDirFailsFast(t *testing.T) {
	dir := t.TempDir()
	holdLock(t, dir)
	c, _, err := parseFlags([]string{"--id", "s2", "--listen", "127.0.0.1:0", "--data", dir}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = serve(context.Background(), c, slog.New(slog.DiscardHandler), io.Discard)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "is in use") || !strings.Contains(err.Error(), "ares.db") {
		t.Fatalf("serve on a locked directory: %v; want an in-use error", err)
	}
	if took > lockTimeout+2*time.Second {
		t.Fatalf("took %v to fail; want about %v", took, lockTimeout)
	}
}

// TestLockedDataDirExitCode: the same through run, as the command line
// sees it: exit 1 and one error line.
func TestLockedDataDirExitCode(t *testing.T) {
	dir := t.TempDir()
	holdLock(t, dir)
	var stdout, stderr strings.Builder
	if code := run([]string{"--id", "s2", "--listen", "127.0.0.1:0", "--data", dir}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d; want 1 (stderr %q)", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "ares-server: data directory "+dir+" is in use") {
		t.Fatalf("stderr %q; want the in-use error", stderr.String())
	}
}

// TestStopWhileLocked: SIGTERM (the context ending) while the lock is
// awaited stops the server at once, cleanly.
func TestStopWhileLocked(t *testing.T) {
	dir := t.TempDir()
	holdLock(t, dir)
	c, _, err := parseFlags([]string{"--id", "s2", "--listen", "127.0.0.1:0", "--data", dir}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if err := serve(ctx, c, slog.New(slog.DiscardHandler), io.Discard); err != nil {
		t.Fatalf("serve stopped while waiting for the lock: %v; want a clean stop", err)
	}
	if took := time.Since(start); took >= lockTimeout {
		t.Fatalf("took %v to stop; want well under the %v lock wait", took, lockTimeout)
	}
}

// TestListenUnixTooLong: a Unix socket address longer than Linux takes
// is a usage error, not a failure at listen time.
func TestListenUnixTooLong(t *testing.T) {
	long := "@" + strings.Repeat("x", maxUnixAddr+1)
	if _, _, err := parseFlags([]string{"--id", "s2", "--data", t.TempDir(), "--listen-unix", long}, io.Discard); err == nil || !strings.Contains(err.Error(), "--listen-unix") {
		t.Fatalf("--listen-unix of %d bytes: %v; want a usage error naming the flag", len(long), err)
	}
}
