package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ares-torture/torture/pki"
)

// TestCerts: torture certs writes the CA's certificate and one pair per
// NAME, valid for the NAME and every --host and signed by that CA, never
// the CA's key; it refuses to replace a CA without --force, and bad
// command lines.
func TestCerts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	var out bytes.Buffer
	if code := Main([]string{"certs", "--out", dir, "--host", "127.0.0.1,localhost", "--host", "10.0.0.7", "s1", "client"}, &out, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "ca.pem client-key.pem client.pem s1-key.pem s1.pem" {
		t.Fatalf("files: %s", got)
	}
	caPEM, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	b, _ := os.ReadFile(filepath.Join(dir, "s1.pem"))
	blk, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("s1.pem is not signed by ca.pem: %v", err)
	}
	for _, h := range []string{"s1", "localhost", "127.0.0.1", "10.0.0.7"} {
		if err := cert.VerifyHostname(h); err != nil {
			t.Errorf("s1.pem: %v", err)
		}
	}
	if !slices.Contains(cert.DNSNames, "s1") {
		t.Errorf("s1.pem names %v", cert.DNSNames)
	}
	if _, err := pki.ServerConfig(pki.Files{Cert: filepath.Join(dir, "s1.pem"), Key: filepath.Join(dir, "s1-key.pem"), CA: filepath.Join(dir, "ca.pem")}); err != nil {
		t.Errorf("the files do not load: %v", err)
	}

	// A second CA over the first only with --force, which starts afresh.
	out.Reset()
	if code := Main([]string{"certs", "--out", dir, "s2"}, &out, &out); code != 3 || !strings.Contains(out.String(), "--force") {
		t.Errorf("over an existing CA without --force: exit %d: %s", code, out.String())
	}
	out.Reset()
	if code := Main([]string{"certs", "--out", dir, "--force", "s2"}, &out, &out); code != 0 {
		t.Fatalf("--force: exit %d: %s", code, out.String())
	}
	ents, _ = os.ReadDir(dir)
	if len(ents) != 3 {
		t.Errorf("after --force: %d files, want ca.pem and s2's pair", len(ents))
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ca.pem")); bytes.Equal(b, caPEM) {
		t.Error("--force kept the old CA")
	}

	for _, args := range [][]string{
		{"certs", "s1"},
		{"certs", "--out", dir},
		{"certs", "--out", t.TempDir(), "ca"},
		{"certs", "--out", t.TempDir(), "../s1"},
		{"certs", "--out", t.TempDir(), "s1", "s1"},
		{"certs", "--bogus"},
	} {
		out.Reset()
		if code := Main(args, &out, &out); code != 3 {
			t.Errorf("%v: exit %d, want 3: %s", args, code, out.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"certs", "--help"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "--tls-cert") ||
		strings.Count(stdout.String(), "usage:") != 1 || stderr.Len() > 0 {
		t.Errorf("--help: exit %d: stdout %s\nstderr %s", code, stdout.String(), stderr.String())
	}
}
