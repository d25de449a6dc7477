package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/nemesis"
)

// The tests in this file need a Docker engine and root (nsenter, iptables).
// Without an engine they fail: CI has one, and a skipped torture test would
// pass silently. Only -short skips them.

func requireDocker(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("docker integration test (skipped with -short)")
	}
	out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput()
	if err != nil {
		t.Fatalf("docker info failed (the docker tests need an engine): %v: %s", err, out)
	}
}

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// testBinaries builds static ares-server and torture-agent for the image,
// once per test binary. ARES_SERVER_BIN and TORTURE_AGENT_BIN override.
func testBinaries(t *testing.T) (server, agent string) {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "ares-torture-bin-")
		if binErr != nil {
			return
		}
		root, err := filepath.Abs("../..")
		if err != nil {
			binErr = err
			return
		}
		for _, b := range []struct{ env, pkg, name string }{
			{"ARES_SERVER_BIN", "./cmd/ares-server", "ares-server"},
			{"TORTURE_AGENT_BIN", "./cmd/torture-agent", "torture-agent"},
		} {
			dst := filepath.Join(binDir, b.name)
			if src := os.Getenv(b.env); src != "" {
				if err := os.Symlink(src, dst); err != nil {
					binErr = err
					return
				}
				continue
			}
			cmd := exec.Command("go", "build", "-trimpath", "-o", dst, b.pkg)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				binErr = fmt.Errorf("go build %s: %w: %s", b.pkg, err, out)
				return
			}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "ares-server"), filepath.Join(binDir, "torture-agent")
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// assertNoLeftovers checks that nothing of run (or, with run "", of the
// whole project) is left: containers, networks, volumes, host rules.
func assertNoLeftovers(t *testing.T, run string) {
	t.Helper()
	cli, err := NewDockerClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	f := projectFilter()
	if run != "" {
		f = runFilter(run)
	}
	ctrs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ctrs {
		t.Errorf("leftover container %v", c.Names)
	}
	for _, n := range nets {
		t.Errorf("leftover network %s", n.Name)
	}
	for _, v := range vols.Volumes {
		t.Errorf("leftover volume %s", v.Name)
	}
	out, err := exec.Command("iptables-save").Output()
	if err != nil {
		t.Fatalf("iptables-save: %v", err)
	}
	if rules := findProjectRules(string(out)); len(rules) > 0 {
		t.Errorf("leftover host iptables rules: %v", rules)
	}
}

// TestClusterFaults drives the backend by hand: every fault, checked by
// what a client can and cannot do, then Stop, logs and no leftovers.
func TestClusterFaults(t *testing.T) {
	requireDocker(t)
	server, agentBin := testBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	c, err := New(Options{RunID: "test-faults-" + fmt.Sprint(time.Now().UnixNano()%1e6), Servers: 3,
		ServerBin: server, AgentBin: agentBin, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	logDir := t.TempDir()
	stopped := false
	defer func() {
		if !stopped {
			_ = c.Stop(context.Background(), logDir)
		}
	}()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pool := c.Pool()
	cfg := &ares.Config{Servers: pool, DAP: ares.ABD}
	spec := harness.ClientSpec{Initial: cfg}
	a, err := c.NewClient(ctx, "c0", spec)
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := c.ControlClient(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	op := func(cl harness.Client, v string) error {
		octx, ocancel := context.WithTimeout(ctx, 2*time.Second)
		defer ocancel()
		winfo, err := cl.Write(octx, "k", []byte(v))
		if err != nil {
			return err
		}
		got, rinfo, err := cl.Read(octx, "k")
		if err != nil {
			return err
		}
		if winfo.Configs != 1 || rinfo.Configs != 1 || winfo.Tag.WID == "" {
			return fmt.Errorf("operation info: write %+v, read %+v", winfo, rinfo)
		}
		if string(got) != v && cl == a {
			return fmt.Errorf("read %q after writing %q", got, v)
		}
		return nil
	}
	if err := op(a, "v1"); err != nil {
		t.Fatalf("healthy cluster: %v", err)
	}

	// Cutting c0 from a majority makes its operations fail; the control
	// client is never cut.
	if err := c.Cut(ctx, []nemesis.Link{{Client: "c0", Server: "s1"}, {Client: "c0", Server: "s2"}}); err != nil {
		t.Fatal(err)
	}
	if err := op(a, "v2"); err == nil {
		t.Error("c0 cut from s1 and s2 still completed an operation")
	} else if !errors.Is(err, ares.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cut: want unavailable or deadline, got %v", err)
	}
	if err := op(ctl, "v3"); err != nil {
		t.Errorf("control client during a partition: %v", err)
	}
	if err := c.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if err := op(a, "v4"); err != nil {
		t.Fatalf("after heal: %v", err)
	}

	// Certain loss is a cut; loss 0 lifts it.
	if err := c.SetLoss(ctx, []nemesis.Link{{Client: "c0", Server: "s1"}, {Client: "c0", Server: "s3"}}, 1); err != nil {
		t.Fatal(err)
	}
	if err := op(a, "v5"); err == nil {
		t.Error("c0 with total loss to s1 and s3 still completed an operation")
	}
	if err := c.SetLoss(ctx, []nemesis.Link{{Client: "c0", Server: "s1"}, {Client: "c0", Server: "s3"}}, 0); err != nil {
		t.Fatal(err)
	}
	if err := op(a, "v6"); err != nil {
		t.Fatalf("after loss 0: %v", err)
	}

	// Kill two servers: no quorum. Restart them: state is kept.
	for _, s := range []string{"s1", "s2"} {
		if err := c.Kill(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := op(a, "v7"); err == nil {
		t.Error("operation completed with two of three servers killed")
	}
	for _, s := range []string{"s1", "s2"} {
		if err := c.Restart(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Kill(ctx, "s3"); err != nil {
		t.Fatal(err)
	}
	// s1 and s2 now form the only quorum: they must remember v6 (or a
	// later indeterminate write) from disk.
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	got, _, err := a.Read(rctx, "k")
	rcancel()
	if err != nil {
		t.Fatalf("read after restarts: %v", err)
	}
	// A renewed client (what a process gets after an info operation) is
	// a fresh ARES client in the same agent container.
	if err := a.Renew(ctx); err != nil {
		t.Fatalf("renew: %v", err)
	}
	if g := string(got); g != "v6" && g != "v7" {
		t.Errorf("read after restarts: %q, want v6 (or the indeterminate v7)", g)
	}
	if err := c.Restart(ctx, "s3"); err != nil {
		t.Fatal(err)
	}

	// Pause two: no quorum until they resume.
	for _, s := range []string{"s2", "s3"} {
		if err := c.Pause(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := op(a, "v8"); err == nil {
		t.Error("operation completed with two of three servers paused")
	}
	for _, s := range []string{"s2", "s3"} {
		if err := c.Resume(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := op(a, "v9"); err != nil {
		t.Fatalf("after resume: %v", err)
	}

	if err := c.SetLatency(ctx, []nemesis.Link{{Client: "c0", Server: "s1"}}, 50*time.Millisecond); err != nil && !errors.Is(err, nemesis.ErrUnsupported) {
		t.Errorf("latency: %v", err)
	}

	// Every message to two of three servers lost: no quorum until the heal.
	if err := c.SetDrop(ctx, []nemesis.Link{{Client: "c0", Server: "s2"}, {Client: "c0", Server: "s3"}}, 1); err != nil {
		t.Fatalf("drop: %v", err)
	}
	if err := op(a, "v10"); err == nil {
		t.Error("operation completed with every message to two of three servers dropped")
	}
	if err := c.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if err := op(a, "v11"); err != nil {
		t.Fatalf("after the drop healed: %v", err)
	}

	// Leave a cut and a paused server for Stop to deal with.
	if err := c.Cut(ctx, []nemesis.Link{{Client: "c0", Server: "s1"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Pause(ctx, "s2"); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if err := c.Stop(ctx, logDir); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(ctx, logDir); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	for _, f := range []string{"s1/server.log", "s2/server.log", "s3/server.log", "c0/agent.log", "control/agent.log"} {
		if st, err := os.Stat(filepath.Join(logDir, f)); err != nil || st.Size() == 0 {
			t.Errorf("log %s missing or empty (%v)", f, err)
		}
	}
	assertNoLeftovers(t, c.RunID())
}
