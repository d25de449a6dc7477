package e2e

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runCLI runs the ares command and returns its stdout, stderr and exit code.
func runCLI(t *testing.T, stdin []byte, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(cliBin, args...)
	cmd.Env = append(os.Environ(), "ARES_SERVERS=")
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run ares %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

// TestCLIPutGet drives a cluster through the ares binary with both DAPs,
// values from the command line, from a file and from stdin, and the empty
// value.
func TestCLIPutGet(t *testing.T) {
	for _, dc := range dapCases {
		t.Run(dc.name, func(t *testing.T) {
			c := startCluster(t, 5)
			base := []string{"--servers", c.serverList(), "--dap", string(dc.dap), "--ec-k", "3", "--timeout", "30s"}
			cli := func(stdin []byte, args ...string) string {
				t.Helper()
				out, errOut, code := runCLI(t, stdin, append(base, args...)...)
				if code != 0 {
					t.Fatalf("ares %v: exit %d: %s", args, code, errOut)
				}
				return out
			}
			if got := cli(nil, "get", "k"); got != "" {
				t.Fatalf("get of a new key printed %q", got)
			}
			cli(nil, "put", "k", "hello")
			if got := cli(nil, "get", "k"); got != "hello" {
				t.Fatalf("get k = %q; want hello", got)
			}
			dir := t.TempDir()
			in := filepath.Join(dir, "in")
			val := bytes.Repeat([]byte{0, 1, 2, 0xff}, 1<<18) // 1 MiB with zero bytes
			if err := os.WriteFile(in, val, 0o644); err != nil {
				t.Fatal(err)
			}
			cli(nil, "put", "bin", "--file", in)
			out := filepath.Join(dir, "out")
			cli(nil, "get", "bin", "--out", out)
			if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, val) {
				t.Fatalf("file round trip: %d bytes, %v", len(got), err)
			}
			cli([]byte("from stdin"), "put", "s", "--file", "-")
			if got := cli(nil, "get", "s"); got != "from stdin" {
				t.Fatalf("get s = %q", got)
			}
			cli(nil, "put", "k", "")
			if got := cli(nil, "get", "k"); got != "" {
				t.Fatalf("get k after writing the empty value = %q", got)
			}
			if got := cli(nil, "configs"); !strings.HasPrefix(got, "0\t"+c.serverList()+"\t") || !strings.Contains(got, "finalized") {
				t.Fatalf("configs printed %q", got)
			}
		})
	}
}

// TestCLIBadInput checks exit codes and one-line messages of the ares
// binary: 2 for bad input, 1 when no quorum answers before the deadline.
func TestCLIBadInput(t *testing.T) {
	needBinaries(t)
	const three = "s1=127.0.0.1:1,s2=127.0.0.1:2,s3=127.0.0.1:3"
	cases := []struct {
		args string
		want string
	}{
		{"--nope get k", "flag provided but not defined"},
		{"get k", "--servers"},
		{"--servers s1=127.0.0.1 get k", "malformed address"},
		{"--servers s1:127.0.0.1:1 get k", "malformed server"},
		{"--servers " + three + " --dap ec --ec-k 3 get k", "1 <= k < n"},
		{"--servers " + three + " --dap ec --ec-k 0 put k v", "1 <= k < n"},
		{"--servers " + three + " put k", "put takes"},
		{"--servers " + three + " launch", "unknown command"},
		{"--servers " + three + " reconfig --to s1=127.0.0.1:4", "server s1 is at 127.0.0.1:1"},
		{"--servers " + three + " reconfig --to s4=127.0.0.1:4,s4=127.0.0.1:5", "appears twice"},
		{"--servers " + three + " reconfig --to s4=127.0.0.1:4 --to-dap ec --to-ec-k 1", "1 <= k < n"},
	}
	for _, c := range cases {
		t.Run(c.args, func(t *testing.T) {
			_, errOut, code := runCLI(t, nil, strings.Fields(c.args)...)
			if code != 2 {
				t.Errorf("exit %d; want 2 (stderr %q)", code, errOut)
			}
			if !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") != 1 || strings.Contains(errOut, "panic") {
				t.Errorf("stderr %q; want one line containing %q", errOut, c.want)
			}
		})
	}
	t.Run("unreachable quorum", func(t *testing.T) {
		// Ports that were free a moment ago: nothing answers there.
		var parts []string
		for _, id := range []string{"s1", "s2", "s3"} {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, id+"="+lis.Addr().String())
			lis.Close()
		}
		start := time.Now()
		_, errOut, code := runCLI(t, nil, "--servers", strings.Join(parts, ","), "--timeout", "1s", "put", "k", "v")
		if code != 1 {
			t.Errorf("exit %d; want 1 (stderr %q)", code, errOut)
		}
		for _, id := range []string{"s1", "s2", "s3"} {
			if !strings.Contains(errOut, id) {
				t.Errorf("stderr %q does not name %s", errOut, id)
			}
		}
		if strings.Count(errOut, "\n") != 1 {
			t.Errorf("stderr is not one line: %q", errOut)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("took %v with --timeout 1s", d)
		}
	})
}
