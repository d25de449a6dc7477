package docker

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/harness"
)

// dockerRun returns the options of a short docker run into store.
func dockerRun(t *testing.T, store string, seed int64) harness.Options {
	server, _ := testBinaries(t) // torture-agent sits next to it
	o := harness.DefaultOptions()
	o.Backend = "docker"
	o.Store, o.Seed, o.ServerBin = store, seed, server
	o.Servers, o.Pool, o.Clients, o.Keys = 5, 5, 4, 4
	o.Time = harness.Duration(8 * time.Second)
	o.NemesisInterval = harness.Duration(time.Second)
	o.OpTimeout = harness.Duration(time.Second)
	o.Settle = harness.Duration(time.Second)
	o.CheckTimeout = harness.Duration(60 * time.Second)
	return o
}

func runDocker(t *testing.T, o harness.Options) *harness.Outcome {
	t.Helper()
	var out bytes.Buffer
	t0 := time.Now()
	res := harness.Run(context.Background(), o, harness.Env{Out: &out})
	t.Logf("seed %d, %v:\n%s", o.Seed, time.Since(t0).Round(100*time.Millisecond), out.String())
	if res.RunDir != "" {
		assertNoLeftovers(t, runIDFor(res.RunDir))
		for _, f := range []string{"s1/server.log", "c0/agent.log"} {
			if _, err := os.Stat(filepath.Join(res.RunDir, harness.NodesDir, f)); err != nil {
				t.Errorf("no %s in the run dir: %v", f, err)
			}
		}
	}
	return res
}

// TestDockerRunValid: short runs with partitions and kills on ABD and on EC
// are valid, and leave nothing behind.
func TestDockerRunValid(t *testing.T) {
	requireDocker(t)
	for _, dap := range []ares.DAP{ares.ABD, ares.EC} {
		t.Run(string(dap), func(t *testing.T) {
			o := dockerRun(t, t.TempDir(), 1)
			o.DAP, o.Nemesis = string(dap), "partition,kill"
			res := runDocker(t, o)
			if res.Code != harness.ExitValid {
				t.Fatalf("want valid, got %s", res.Line())
			}
			if res.Counts.OK == 0 {
				t.Fatalf("no operation completed: %s", res.Line())
			}
		})
	}
}

// TestDockerRunServerBug: a server bug is found through the docker backend.
// Servers that skip the tag check let a write delayed by lost packets (or
// a cut) overwrite a newer one.
func TestDockerRunServerBug(t *testing.T) {
	requireDocker(t)
	store := t.TempDir()
	for seed := int64(1); seed <= 3; seed++ {
		o := dockerRun(t, store, seed)
		o.ServerBug = string(ares.BugNoTagCheck)
		o.Keys, o.ReadRatio, o.Nemesis = 1, 0.3, "loss,partition"
		res := runDocker(t, o)
		switch res.Code {
		case harness.ExitInvalid:
			return
		case harness.ExitHarness:
			t.Fatalf("harness failed: %s", res.Line())
		}
	}
	t.Fatalf("server bug %s was not found in 3 seeds", ares.BugNoTagCheck)
}
