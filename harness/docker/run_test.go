package docker

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	if res.RunDir != "" && res.Code != harness.ExitValid {
		// The run directory goes with the test: keep what says why.
		if b, err := os.ReadFile(filepath.Join(res.RunDir, harness.LogFile)); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
					t.Log(l)
				}
			}
		}
	}
	if res.RunDir != "" {
		assertNoLeftovers(t, runIDFor(res.RunDir))
		for _, f := range []string{"s1/server.log", "c0/agent.log"} {
			if _, err := os.Stat(filepath.Join(res.RunDir, harness.NodesDir, f)); err != nil {
				t.Errorf("no %s in the run dir: %v", f, err)
			}
		}
		assertRunTLS(t, res.RunDir)
		if o.Trace {
			// Every server's and agent's spans, and where the time goes.
			for _, f := range []string{"s1.json", "s5.json", "c0.json", "control.json", "summary.txt"} {
				if st, err := os.Stat(filepath.Join(res.RunDir, harness.TracesDir, f)); err != nil || st.Size() == 0 {
					t.Errorf("no %s in the run's traces: %v", f, err)
				}
			}
		}
	}
	return res
}

// assertRunTLS checks that a run's servers and agents served what its
// test.json says: with tls on, RUN_DIR/tls and logs that say so; off,
// neither.
func assertRunTLS(t *testing.T, runDir string) {
	t.Helper()
	ti, err := harness.ReadTestInfo(runDir)
	if err != nil {
		t.Fatal(err)
	}
	on := ti.Options.TLS == harness.TLSOn
	if _, err := os.Stat(filepath.Join(runDir, harness.TLSDir, "s1.pem")); (err == nil) != on {
		t.Errorf("--tls %s, but RUN_DIR/tls/s1.pem: %v", ti.Options.TLS, err)
	}
	want := []byte("tls=" + strconv.FormatBool(on))
	for _, f := range []string{"s1/server.log", "c0/agent.log"} {
		b, err := os.ReadFile(filepath.Join(runDir, harness.NodesDir, f))
		if err == nil && !bytes.Contains(b, want) {
			t.Errorf("--tls %s, but %s does not say %s", ti.Options.TLS, f, want)
		}
	}
}

// TestDockerRunValid: short runs with partitions and kills on ABD (over
// mutual TLS, the docker default) and on EC (plaintext, --tls off) are
// valid, and leave nothing behind.
func TestDockerRunValid(t *testing.T) {
	requireDocker(t)
	for _, dap := range []ares.DAP{ares.ABD, ares.EC} {
		t.Run(string(dap), func(t *testing.T) {
			o := dockerRun(t, t.TempDir(), 1)
			o.DAP, o.Nemesis = string(dap), "partition,kill"
			if dap == ares.EC {
				o.TLS = harness.TLSOff
			}
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
