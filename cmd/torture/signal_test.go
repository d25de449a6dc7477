package main

import (
	"io"
	"syscall"
	"testing"
	"time"
)

// TestSignalGrace: two signals 20 ms apart (a hurried Ctrl-C Ctrl-C, or
// GNU timeout's SIGTERM to the process and then to its group) are one
// interrupt: the context ends and the process does not take the
// kill-at-once path (which would end this test binary).
func TestSignalGrace(t *testing.T) {
	ctx, stop := interruptible(io.Discard)
	defer stop()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the context did not end on SIGTERM")
	}
	// Still here after the second signal had time to be handled.
	time.Sleep(200 * time.Millisecond)
}
