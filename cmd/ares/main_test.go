package main

import (
	"bytes"
	"fmt"
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
