package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/pki"
)

func TestBadFlags(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ args, want string }{
		{"", "--id is required"},
		{"--id s1", "--data is required"},
		{"--id s1 --data " + dir + " --nope", "flag provided but not defined: -nope"},
		{"--id s1 --data " + dir + " --bug nope", `unknown bug "nope"`},
		{"--id s1 --data " + dir + " --bug short-quorum", "client bug"},
		{"--id s1 --data " + dir + " --delta 0", "--delta must be >= 1"},
		{"--id s1 --data " + dir + " --delta x", "invalid value"},
		{"--id s1 --data " + dir + " --max-reply-bytes 0", "--max-reply-bytes must be >= 1"},
		{"--id s1 --data " + dir + " --listen nonsense", "want HOST:PORT"},
		{"--id s1 --data " + dir + " --listen 127.0.0.1:99999", "want 0 to 65535"},
		{"--id s1 --data " + dir + " --listen 127.0.0.1:-1", "want 0 to 65535"},
		{"--id s1 --data " + dir + " --max-reply-bytes 268435456", "gRPC message limit"},
		{"--id s1 --data " + dir + " --max-reply-bytes 1000000000", "gRPC message limit"},
		{"--id s1 --data " + dir + " --log-level loud", "--log-level"},
		{"--id s1 --data " + dir + " extra", `unexpected argument "extra"`},
		{"--id s1 --data " + dir + " --servers s1", "--servers"},
		{"--id s1 --data " + dir + " --servers s1=a:1,s2=b:2 --dap ec --ec-k 2", "configuration 0"},
		{"--id s1 --data " + dir + " --servers s1=a:1 --dap paxos", "configuration 0"},
		{"--id s9 --data " + dir + " --servers s1=a:1,s2=b:2,s3=c:3", "does not list this server"},
		{"--id s1 --data " + dir + " --tls-cert c.pem", "go together"},
		{"--id s1 --data " + dir + " --tls-cert c.pem --tls-key k.pem", "go together"},
		{"--id s1 --data " + dir + " --tls-ca ca.pem", "go together"},
	}
	for _, c := range cases {
		t.Run(c.args, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(strings.Fields(c.args), &stdout, &stderr); code != 2 {
				t.Errorf("exit %d; want 2", code)
			}
			msg := stderr.String()
			if !strings.HasPrefix(msg, "ares-server: ") || !strings.Contains(msg, c.want) || strings.Count(msg, "\n") != 1 {
				t.Errorf("stderr %q; want one line containing %q", msg, c.want)
			}
		})
	}
}

func TestVersionAndHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--version"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "ares-server ") {
		t.Errorf("--version: exit %d, %q", code, stdout.String())
	}
	stdout.Reset()
	if code := run([]string{"--help"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "--data") {
		t.Errorf("--help: exit %d, %q", code, stdout.String())
	}
}

// TestServeAndStop serves on a free port until the context ends (what
// SIGTERM does), then checks the clean exit and that the store was created.
func TestServeAndStop(t *testing.T) {
	data := filepath.Join(t.TempDir(), "new", "dir")
	c, _, err := parseFlags([]string{"--id", "s1", "--listen", "127.0.0.1:0", "--data", data}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- serve(ctx, c, slog.New(slog.DiscardHandler), pw)
		pw.Close()
	}()
	line := make([]byte, 64)
	n, err := pr.Read(line)
	if err != nil || !strings.HasPrefix(string(line[:n]), "listening on 127.0.0.1:") {
		t.Fatalf("first output %q, %v", line[:n], err)
	}
	go io.Copy(io.Discard, pr)
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(2 * stopGrace):
		t.Fatal("serve did not return after its context ended")
	}
	if _, err := os.Stat(filepath.Join(data, "ares.db")); err != nil {
		t.Fatalf("store not created: %v", err)
	}
}

// TestInitialFromFlags: --servers, --dap and --ec-k give the server its
// configuration 0, built as clients build it (no k for ABD), so that their
// digests agree.
func TestInitialFromFlags(t *testing.T) {
	dir := t.TempDir()
	c, _, err := parseFlags(strings.Fields("--id s2 --data "+dir+" --servers s1=a:1,s2=b:2,s3=c:3 --ec-k 2"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := &ares.Config{Servers: []ares.Node{{ID: "s1", Addr: "a:1"}, {ID: "s2", Addr: "b:2"}, {ID: "s3", Addr: "c:3"}}, DAP: ares.ABD}
	if c.initial == nil || c.initial.Digest() != want.Digest() {
		t.Fatalf("initial %v, want %v", c.initial, want)
	}
	c, _, err = parseFlags(strings.Fields("--id s2 --data "+dir+" --servers s1=a:1,s2=b:2,s3=c:3 --dap ec --ec-k 2"), io.Discard)
	if err != nil || c.initial == nil || c.initial.K != 2 || c.initial.DAP != ares.EC {
		t.Fatalf("ec initial %v, err %v", c.initial, err)
	}
	if c, _, _ := parseFlags(strings.Fields("--id s2 --data "+dir), io.Discard); c.initial != nil {
		t.Fatalf("initial %v without --servers", c.initial)
	}
}

// TestBadTLSFiles: named but missing or wrong TLS files fail at start with
// a line naming the file, before the store is created.
func TestBadTLSFiles(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA("run")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ca.WriteFiles(dir, "s1", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tls  pki.Files
		want string
	}{
		{"missing key", pki.Files{Cert: f.Cert, Key: filepath.Join(dir, "nope.pem"), CA: f.CA}, "nope.pem"},
		{"missing CA", pki.Files{Cert: f.Cert, Key: f.Key, CA: filepath.Join(dir, "nope-ca.pem")}, "nope-ca.pem"},
		{"key as CA", pki.Files{Cert: f.Cert, Key: f.Key, CA: f.Key}, "no PEM certificate"},
		{"CA as key", pki.Files{Cert: f.Cert, Key: f.CA, CA: f.CA}, "tls key pair"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			args := append([]string{"--id", "s1", "--listen", "127.0.0.1:0", "--data", data}, tc.tls.Args()...)
			var stdout, stderr bytes.Buffer
			if code := run(args, &stdout, &stderr); code != 1 {
				t.Errorf("exit %d; want 1", code)
			}
			var last string
			if lines := strings.Split(strings.TrimSpace(stderr.String()), "\n"); len(lines) > 0 {
				last = lines[len(lines)-1]
			}
			if !strings.HasPrefix(last, "ares-server: ") || !strings.Contains(last, tc.want) {
				t.Errorf("stderr %q; want a last line containing %q", stderr.String(), tc.want)
			}
			if strings.Contains(stdout.String(), "listening") {
				t.Errorf("served: %q", stdout.String())
			}
			if _, err := os.Stat(data); err == nil {
				t.Error("store created")
			}
		})
	}
}
