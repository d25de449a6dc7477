package e2e

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ares-torture/torture/pki"
)

// tlsFiles makes a CA in dir and a certificate named name from it.
func tlsFiles(t *testing.T, ca *pki.CA, dir, name string, hosts ...string) pki.Files {
	t.Helper()
	f, err := ca.WriteFiles(dir, name, hosts...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestCLITLS: ares-server with --tls-cert, --tls-key and --tls-ca serves the
// ares command with a certificate of its CA, and refuses it without one or
// with another CA's: exit 1 at once (not at --timeout) with one line that
// says TLS. A TLS client of a plaintext server fails the same way.
func TestCLITLS(t *testing.T) {
	needBinaries(t)
	ca, err := pki.NewCA("e2e run")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// One certificate for every server: they all listen on 127.0.0.1.
	srvFiles := tlsFiles(t, ca, dir, "server", "127.0.0.1")
	cliFiles := tlsFiles(t, ca, dir, "cli")
	other, err := pki.NewCA("another run")
	if err != nil {
		t.Fatal(err)
	}
	stranger := tlsFiles(t, other, t.TempDir(), "cli")

	c := startCluster(t, 3, srvFiles.Args()...)
	for _, s := range c.servers {
		if log := tail(s.logPath); !strings.Contains(log, "tls=true") {
			t.Errorf("%s does not log tls=true: %s", s.id, log)
		}
	}
	// --timeout well above the bound: a refusal must not wait for it.
	base := []string{"--servers", c.serverList(), "--timeout", "60s"}
	with := func(f pki.Files, args ...string) []string {
		return append(append(append([]string{}, base...), f.Args()...), args...)
	}

	if out, errOut, code := runCLI(t, nil, with(cliFiles, "put", "k", "secret")...); code != 0 {
		t.Fatalf("put with the run's certificate: exit %d: %s%s", code, out, errOut)
	}
	if out, errOut, code := runCLI(t, nil, with(cliFiles, "get", "k")...); code != 0 || out != "secret" {
		t.Fatalf("get with the run's certificate: exit %d, %q: %s", code, out, errOut)
	}

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no certificate", with(pki.Files{}, "get", "k"), []string{"TLS", "--tls-cert"}},
		{"no certificate, put", with(pki.Files{}, "put", "k", "stolen"), []string{"TLS", "--tls-cert"}},
		{"another CA's certificate and CA", with(stranger, "get", "k"), []string{"TLS", "not trusted"}},
		// Trusting the servers, so the refusal is theirs.
		{"another CA's certificate", with(pki.Files{Cert: stranger.Cert, Key: stranger.Key, CA: cliFiles.CA}, "get", "k"),
			[]string{"TLS", "refused this client's certificate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			out, errOut, code := runCLI(t, nil, tc.args...)
			took := time.Since(start)
			t.Logf("exit %d after %v: %s", code, took.Round(time.Millisecond), errOut)
			if code != 1 || out != "" {
				t.Errorf("exit %d, stdout %q; want 1 and nothing", code, out)
			}
			if !strings.HasPrefix(errOut, "ares: ") || strings.Count(errOut, "\n") != 1 {
				t.Errorf("stderr %q; want one line", errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
			if took > 15*time.Second {
				t.Errorf("refused after %v; want within 15s", took)
			}
		})
	}
	// The refused put wrote nothing.
	if out, errOut, code := runCLI(t, nil, with(cliFiles, "get", "k")...); code != 0 || out != "secret" {
		t.Fatalf("get after the refusals: exit %d, %q: %s", code, out, errOut)
	}

	t.Run("plaintext server", func(t *testing.T) {
		p := startCluster(t, 1)
		start := time.Now()
		out, errOut, code := runCLI(t, nil, append([]string{"--servers", p.serverList(), "--timeout", "60s"}, append(cliFiles.Args(), "get", "k")...)...)
		t.Logf("exit %d after %v: %s", code, time.Since(start).Round(time.Millisecond), errOut)
		if code != 1 || out != "" || !strings.Contains(errOut, "does not speak TLS") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("exit %d, stdout %q, stderr %q; want 1 and one line saying the server does not speak TLS", code, out, errOut)
		}
		if time.Since(start) > 15*time.Second {
			t.Errorf("refused after %v; want within 15s", time.Since(start))
		}
	})
}

// TestServerTLSFlagsGoTogether: --tls-cert without --tls-key and --tls-ca
// (or any one or two of them) is a usage error (exit 2) and nothing is
// served; so is a named file that cannot be read, with exit 1.
func TestServerTLSFlagsGoTogether(t *testing.T) {
	needBinaries(t)
	ca, err := pki.NewCA("e2e run")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := tlsFiles(t, ca, dir, "server", "127.0.0.1")
	for _, tc := range []struct {
		name string
		tls  []string
		code int
		want string
	}{
		{"cert only", []string{"--tls-cert", f.Cert}, 2, "go together"},
		{"cert and key", []string{"--tls-cert", f.Cert, "--tls-key", f.Key}, 2, "go together"},
		{"CA only", []string{"--tls-ca", f.CA}, 2, "go together"},
		{"missing key", []string{"--tls-cert", f.Cert, "--tls-key", filepath.Join(dir, "absent-key.pem"), "--tls-ca", f.CA}, 1, "absent-key.pem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--id", "s1", "--listen", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "data")}, tc.tls...)
			cmd := exec.Command(serverBin, args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				<-done
				t.Fatalf("still running after 15s: stdout %q", stdout.String())
			}
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
			if code != tc.code || !strings.Contains(stderr.String(), tc.want) || strings.Contains(stdout.String(), "listening") {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, stdout.String(), stderr.String(), tc.code, tc.want)
			}
		})
	}
}
