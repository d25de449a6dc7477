package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/ares/aresrpc"
	"google.golang.org/grpc"
)

// TestBadInput checks that bad input gives exit 2 and one line on stderr
// naming the problem, before anything is sent (the servers do not exist).
func TestBadInput(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, MaxValue+1); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ARES_SERVERS", "")
	const three = "s1=127.0.0.1:1,s2=127.0.0.1:2,s3=127.0.0.1:3"
	cases := []struct {
		args string
		want string
	}{
		{"", "no command"},
		{"--bogus get k", "flag provided but not defined: -bogus"},
		{"get k", "--servers"},
		{"--servers s1 get k", "malformed server"},
		{"--servers s1=nohostport get k", "malformed address"},
		{"--servers s1=a:1,s1=b:2 get k", "appears twice"},
		{"--servers " + three + " --dap ec --ec-k 3 get k", "1 <= k < n"},
		{"--servers " + three + " --dap ec --ec-k 0 get k", "1 <= k < n"},
		{"--servers " + three + " --dap raft get k", "unknown dap"},
		{"--servers " + three + " --timeout -1s get k", "--timeout"},
		{"--servers " + three + " frob", "unknown command"},
		{"--servers " + three + " get", "get takes one"},
		{"--servers " + three + " get a b", "get takes one"},
		{"--servers " + three + " put k", "put takes"},
		{"--servers " + three + " put k v w", "put takes"},
		{"--servers " + three + " put k v --file x", "not both"},
		{"--servers " + three + " put k --file " + big, "over the limit"},
		{"--servers " + three + " put k --file /does/not/exist", "no such file"},
		{"--servers " + three + " reconfig", "needs --to"},
		{"--servers " + three + " reconfig --to s4", "malformed server"},
		{"--servers " + three + " reconfig --to s4=x:1,s4=y:1", "appears twice"},
		{"--servers " + three + " reconfig --to s1=127.0.0.1:9", "server s1 is at 127.0.0.1:1"},
		{"--servers " + three + " reconfig --to s9=127.0.0.1:1", "belongs to server s1"},
		{"--servers " + three + " reconfig --to s4=x:1,s5=y:1 --to-dap ec --to-ec-k 2", "1 <= k < n"},
		{"--servers " + three + " reconfig --to s4=x:1 --to-dap nope", "unknown dap"},
		{"--servers " + three + " configs extra", "takes no arguments"},
		{"--servers " + three + " --log-level loud configs", "--log-level"},
		{"--servers " + three + " put --if-version nope k v", "--if-version"},
		{"--servers " + three + " put --if-version 3 k v", "--if-version"},
		{"--servers " + three + " get --version", "get takes one"},
		{"--servers " + three + " put-file k", "needs --file"},
		{"--servers " + three + " put-file --file x", "put-file takes one"},
		{"--servers " + three + " put-file k --file /does/not/exist", "no such file"},
		{"--servers " + three + " put-file k --file x --chunk-min 10", "64 <= min"},
		{"--servers " + three + " put-file k --file x --chunk-min 1M --chunk-max 64K", "64 <= min"},
		{"--servers " + three + " put-file k --file x --chunk-max lots", "size"},
		{"--servers " + three + " get-file", "get-file takes one"},
		{"--servers " + three + " get-file a b", "get-file takes one"},
		{"--servers " + three + " --tls-cert c.pem get k", "go together"},
		{"--servers " + three + " get k --tls-ca ca.pem --tls-key k.pem", "go together"},
		{"--servers " + three + " --tls-cert /does/not/c.pem --tls-key /does/not/k.pem --tls-ca /does/not/ca.pem get k", "no such file"},
	}
	for _, c := range cases {
		t.Run(c.args, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(strings.Fields(c.args), strings.NewReader(""), &stdout, &stderr)
			if code != 2 {
				t.Errorf("exit %d; want 2 (stderr %q)", code, stderr.String())
			}
			msg := stderr.String()
			if !strings.Contains(msg, c.want) || strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "ares: ") {
				t.Errorf("stderr %q; want one line containing %q", msg, c.want)
			}
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"-h"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, nil, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "usage: ares") {
			t.Errorf("%v: exit %d, stdout %q", args, code, stdout.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--version"}, nil, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "ares ") {
		t.Errorf("--version: exit %d, stdout %q", code, stdout.String())
	}
}

func TestParseInterleaved(t *testing.T) {
	o := opts{}
	pos, err := parse(flagSet(&o, "put"), []string{"--servers", "s1=a:1", "put", "k", "--timeout", "3s", "--", "-v"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pos, " ") != "put k -v" || o.servers != "s1=a:1" || o.timeout.String() != "3s" {
		t.Fatalf("pos %q, opts %+v", pos, o)
	}
}

func TestStdinValue(t *testing.T) {
	o := opts{file: "-"}
	k, v, err := putArgs(&o, []string{"k"}, strings.NewReader("from stdin"))
	if err != nil || k != "k" || string(v) != "from stdin" {
		t.Fatalf("putArgs = %q %q %v", k, v, err)
	}
}

// TestTrace: ares --trace writes the operation's spans and prints its
// span tree, phases and calls to each server, against real servers.
func TestTrace(t *testing.T) {
	var servers []string
	for i := range 3 {
		s, err := ares.NewServer(ares.NewMemStorage(), ares.ServerOptions{ID: fmt.Sprintf("s%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gs := grpc.NewServer(aresrpc.ServerOptions()...)
		aresrpc.Register(gs, s)
		go gs.Serve(lis)
		t.Cleanup(gs.Stop)
		servers = append(servers, fmt.Sprintf("s%d=%s", i, lis.Addr()))
	}
	path := filepath.Join(t.TempDir(), "put.json")
	var stdout, stderr bytes.Buffer
	code := run([]string{"put", "--servers", strings.Join(servers, ","), "--trace", path, "k", "v"}, strings.NewReader(""), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"write +0s", "  get-tag +", "  put-data +", "call +", "server=s1"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Errorf("trace file: %v", err)
	}
}

// servers starts n ARES servers on loopback gRPC and returns their
// --servers list.
func servers(t *testing.T, n int) string {
	var list []string
	for i := range n {
		s, err := ares.NewServer(ares.NewMemStorage(), ares.ServerOptions{ID: fmt.Sprintf("s%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gs := grpc.NewServer(aresrpc.ServerOptions()...)
		aresrpc.Register(gs, s)
		go gs.Serve(lis)
		t.Cleanup(gs.Stop)
		list = append(list, fmt.Sprintf("s%d=%s", i, lis.Addr()))
	}
	return strings.Join(list, ",")
}

// runOK runs ares with args and fails the test unless it exits 0.
func runOK(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(args, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("ares %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	return out.String(), errb.String()
}

// TestCoverWrite: put --if-version prints the new version or "covered by"
// the latest one, exit 0 both ways; get --version prints the version read.
func TestCoverWrite(t *testing.T) {
	srv := "--servers=" + servers(t, 3)
	out, _ := runOK(t, srv, "put", "--if-version", "0", "k", "v1")
	t1, err := ares.ParseTag(out)
	if err != nil || t1.TS == 0 {
		t.Fatalf("first cover write printed %q: %v", out, err)
	}
	if out, _ := runOK(t, srv, "put", "--if-version", "0", "k", "v2"); out != "covered by "+t1.String()+"\n" {
		t.Fatalf("stale cover write printed %q, want covered by %s", out, t1)
	}
	out, _ = runOK(t, srv, "put", "--if-version", t1.String(), "k", "v2")
	t2, err := ares.ParseTag(out)
	if err != nil || !t1.Less(t2) {
		t.Fatalf("cover write on %s printed %q: %v", t1, out, err)
	}
	out, errOut := runOK(t, srv, "get", "--version", "k")
	if out != "v2" || !strings.Contains(errOut, "version "+t2.String()+"\n") {
		t.Fatalf("get --version: stdout %q, stderr %q; want v2 and version %s", out, errOut, t2)
	}
	if out, errOut := runOK(t, srv, "get", "k"); out != "v2" || errOut != "" {
		t.Fatalf("get: stdout %q, stderr %q", out, errOut)
	}
}

// TestFiles: put-file writes only the blocks an edit changed, get-file
// reads the file back, to stdout or a file.
func TestFiles(t *testing.T) {
	srv := "--servers=" + servers(t, 3)
	dir := t.TempDir()
	content := make([]byte, 200_000)
	rand.NewChaCha8([32]byte{1}).Read(content)
	in := filepath.Join(dir, "in")
	if err := os.WriteFile(in, content, 0o644); err != nil {
		t.Fatal(err)
	}
	bounds := []string{"--chunk-min", "1KiB", "--chunk-avg", "4K", "--chunk-max", "16384"}
	_, errOut := runOK(t, append([]string{srv, "put-file", "f", "--file", in}, bounds...)...)
	var written, unchanged int
	var amount, unit string
	if _, err := fmt.Sscanf(errOut, "put-file f: %d blocks written, %d unchanged, %s %s written", &written, &unchanged, &amount, &unit); err != nil || written < 10 || unchanged != 0 {
		t.Fatalf("first put-file: stderr %q (%v)", errOut, err)
	}
	content[len(content)/2] ^= 1
	if err := os.WriteFile(in, content, 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut = runOK(t, append([]string{srv, "put-file", "f", "--file", in}, bounds...)...)
	if _, err := fmt.Sscanf(errOut, "put-file f: %d blocks written, %d unchanged, %s %s written", &written, &unchanged, &amount, &unit); err != nil || written > 2 || unchanged < 10 || unit != "KiB" {
		t.Fatalf("1-byte edit: stderr %q (%v)", errOut, err)
	}
	t.Logf("1-byte edit: %s", errOut)
	out, errOut := runOK(t, srv, "get-file", "f", "--out", "-")
	if out != string(content) || !strings.HasPrefix(errOut, "get-file f: ") || !strings.HasSuffix(errOut, " blocks, 195.3 KiB\n") {
		t.Fatalf("get-file: %d bytes, stderr %q", len(out), errOut)
	}
	outFile := filepath.Join(dir, "out")
	runOK(t, srv, "get-file", "f", "--out", outFile)
	if got, err := os.ReadFile(outFile); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("get-file --out: %d bytes, %v", len(got), err)
	}
	if out, errOut := runOK(t, srv, "get-file", "never"); out != "" || errOut != "get-file never: 0 blocks, 0 B\n" {
		t.Fatalf("never-written file: stdout %q, stderr %q", out, errOut)
	}
	// A plain value is not a file.
	runOK(t, srv, "put", "plain", "v")
	var o, e bytes.Buffer
	if code := run([]string{srv, "get-file", "plain"}, nil, &o, &e); code != 1 || !strings.Contains(e.String(), "corrupt") {
		t.Fatalf("get-file of a plain value: exit %d, stderr %q", code, e.String())
	}
}

func TestSizeFlag(t *testing.T) {
	for in, want := range map[string]int{"4096": 4096, "64K": 64 << 10, "64KiB": 64 << 10, "1m": 1 << 20, "1MiB": 1 << 20, "2MB": 2 << 20} {
		var s size
		if err := s.Set(in); err != nil || int(s) != want {
			t.Errorf("%q: %d, %v; want %d", in, s, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "K", "1G", "1.5M", "99999M"} {
		var s size
		if err := s.Set(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
