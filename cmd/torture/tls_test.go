package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ares-torture/torture/harness"
)

// TestRunTLSLocal: a local run with --tls on, under the faults that act
// on the client links (partition, loss, latency through the proxies, drop
// in the client's transport), is valid; its test.json records tls "on",
// and RUN_DIR/tls holds the CA's certificate and every node's certificate
// but no CA key. A run with the default records "off" and makes no CA.
func TestRunTLSLocal(t *testing.T) {
	needBinaries(t)
	store := t.TempDir()
	args := []string{"run", "--store", store, "--server-bin", filepath.Join(binDir, "ares-server"),
		"--servers", "3", "--pool", "3", "--clients", "4", "--keys", "4", "--time", "10s",
		"--nemesis", "partition,loss,latency,drop", "--nemesis-interval", "1s", "--op-timeout", "1s",
		"--settle", "1s", "--seed", "3", "--trace=false"}
	var out bytes.Buffer
	code := Main(append(args, "--tls", "on", "--name", "tls-on"), &out, &out)
	t.Logf("%s", out.String())
	runDir := lastRunDir(t, out.String())
	assertNothingLeft(t, runDir, 0)
	if code != harness.ExitValid {
		t.Fatalf("--tls on: exit %d", code)
	}
	// Each fault on the links must have acted on the TLS streams.
	if strings.Contains(out.String(), "not injected") {
		t.Errorf("a fault was not injected: the run must show each one works over TLS")
	}
	ti, err := harness.ReadTestInfo(runDir)
	if err != nil {
		t.Fatal(err)
	}
	if ti.Options.TLS != harness.TLSOn {
		t.Errorf("test.json records --tls %q, want on", ti.Options.TLS)
	}
	for _, f := range []string{"ca.pem", "controller.pem", "controller-key.pem", "s1.pem", "s1-key.pem", "s3.pem", "s3-key.pem"} {
		if _, err := os.Stat(filepath.Join(runDir, harness.TLSDir, f)); err != nil {
			t.Errorf("RUN_DIR/tls: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(runDir, harness.TLSDir, "ca-key.pem")); err == nil {
		t.Error("the CA's key was written")
	}
	log, err := os.ReadFile(filepath.Join(runDir, harness.NodesDir, "s1", "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "tls=true") {
		t.Errorf("s1's log does not say it served TLS:\n%s", log)
	}

	// The local default is plaintext loopback.
	out.Reset()
	code = Main(append(args, "--nemesis", "none", "--time", "2s", "--name", "tls-default"), &out, &out)
	runDir = lastRunDir(t, out.String())
	assertNothingLeft(t, runDir, 0)
	if code != harness.ExitValid {
		t.Fatalf("default --tls: exit %d\n%s", code, out.String())
	}
	if ti, err = harness.ReadTestInfo(runDir); err != nil {
		t.Fatal(err)
	}
	if ti.Options.TLS != harness.TLSOff {
		t.Errorf("a local run by default records --tls %q, want off", ti.Options.TLS)
	}
	if _, err := os.Stat(filepath.Join(runDir, harness.TLSDir)); err == nil {
		t.Error("a plaintext run made a tls folder")
	}
}

// TestRunTLSUsage: --tls on with the sim backend, and values other than
// auto, on and off, are usage errors (exit 3) before anything runs.
func TestRunTLSUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--backend", "sim", "--tls", "on"},
		{"--tls", "yes"},
		{"--tls", "true"},
	} {
		store := t.TempDir()
		var out bytes.Buffer
		code := Main(append([]string{"run", "--store", store}, args...), &out, &out)
		if code != harness.ExitHarness || !strings.Contains(out.String(), "--tls") || !strings.Contains(out.String(), "usage:") {
			t.Errorf("torture run %s: exit %d\n%s", strings.Join(args, " "), code, out.String())
		}
		if ents, _ := os.ReadDir(store); len(ents) > 0 {
			t.Errorf("torture run %s left %d entries in the store", strings.Join(args, " "), len(ents))
		}
	}
}

// lastRunDir is the run directory named by the verdict line of out.
func lastRunDir(t *testing.T, out string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	i := strings.Index(last, " run=")
	if i < 0 {
		t.Fatalf("no verdict line: %q", last)
	}
	dir, _, _ := strings.Cut(last[i+len(" run="):], " ")
	return dir
}
