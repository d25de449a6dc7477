package local

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestCleanKillsOnlyOrphans: a marked process whose controller is gone is
// killed; one whose controller lives (this test) is left alone.
func TestCleanKillsOnlyOrphans(t *testing.T) {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	start := func(owner int) *exec.Cmd {
		c := exec.Command("sleep", "60")
		c.Env = append(os.Environ(), EnvOwner+"="+strconv.Itoa(owner), EnvRunDir+"=/nowhere")
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
		return c
	}
	orphan := start(gone.Process.Pid)
	mine := start(os.Getpid())
	exited := make(chan error, 1)
	go func() { exited <- orphan.Wait() }()

	killed, err := Clean(nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range killed {
		if l.PID == mine.Process.Pid {
			t.Fatal("clean killed a server whose controller is alive")
		}
		found = found || l.PID == orphan.Process.Pid
	}
	if !found {
		t.Fatalf("orphan %d not among the killed: %+v", orphan.Process.Pid, killed)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("orphan still runs after clean")
	}
	if !alive(mine.Process.Pid) {
		t.Fatal("the live controller's server died")
	}
}

// TestFreePortsDiffer: the ports of one cluster are all different (a run
// once failed with two servers given the same port).
func TestFreePortsDiffer(t *testing.T) {
	addrs, err := freePorts(64)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Fatalf("port %s given twice", a)
		}
		seen[a] = true
	}
}
