package main

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/ares/aresrpc"
	"github.com/ares-torture/torture/pki"
	"google.golang.org/grpc"
)

// mixedServers starts one ARES server per entry of tls, with mutual TLS of
// f where it is true, and returns their --servers list.
func mixedServers(t *testing.T, f pki.Files, tls ...bool) string {
	t.Helper()
	var list []string
	for i, on := range tls {
		s, err := ares.NewServer(ares.NewMemStorage(), ares.ServerOptions{ID: fmt.Sprintf("s%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		opts := aresrpc.ServerOptions()
		if on {
			cfg, err := pki.ServerConfig(f)
			if err != nil {
				t.Fatal(err)
			}
			opts = append(opts, aresrpc.ServerTLS(cfg))
		}
		gs := grpc.NewServer(opts...)
		aresrpc.Register(gs, s)
		go gs.Serve(lis)
		t.Cleanup(gs.Stop)
		list = append(list, fmt.Sprintf("s%d=%s", i, lis.Addr()))
	}
	return strings.Join(list, ",")
}

// TestHandshakeRefusals: a plaintext client fails at once, saying TLS,
// when refused handshakes leave no majority of configuration 0; with a
// majority left it succeeds and warns about the servers that refused.
func TestHandshakeRefusals(t *testing.T) {
	ca, err := pki.NewCA("run")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f, err := ca.WriteFiles(dir, "server", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := ca.WriteFiles(dir, "cli")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tls  []bool
		args []string
		code int
		want string
	}{
		// The put may end before s2 has refused: then there is no warning.
		{"one of three refuses", []bool{false, false, true}, nil, 0, "?warning: TLS: server s2"},
		{"two of three refuse", []bool{false, true, true}, nil, 1, "2 of the 3 servers refused: s1, s2, no majority is left"},
		{"one of one refuses", []bool{true}, nil, 1, "it probably requires mutual TLS"},
		{"TLS client, plaintext server", []bool{false}, cli.Args(), 1, "does not speak TLS"},
		{"TLS everywhere", []bool{true, true, true}, cli.Args(), 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--servers", mixedServers(t, f, tc.tls...), "--timeout", "60s"}, tc.args...)
			start := time.Now()
			var stdout, stderr bytes.Buffer
			code := run(append(args, "put", "k", "v"), strings.NewReader(""), &stdout, &stderr)
			t.Logf("exit %d after %v: %s", code, time.Since(start).Round(time.Millisecond), stderr.String())
			want, maybe := strings.CutPrefix(tc.want, "?")
			if maybe && stderr.Len() == 0 {
				want = ""
			}
			if code != tc.code || !strings.Contains(stderr.String(), want) || (want == "") != (stderr.Len() == 0) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr.String(), tc.code, want)
			}
			if code != 0 && strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("stderr %q: want one line", stderr.String())
			}
			if time.Since(start) > 15*time.Second {
				t.Errorf("took %v; want at once", time.Since(start))
			}
		})
	}
}
