package local

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/ares/aresrpc"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/nemesis"
)

// TestClusterTLS: with a run CA, every server serves mutual TLS only: the
// cluster's own clients (through their links, and the control client
// directly) work, while a plaintext client and a TLS client without a
// certificate are refused. The links act on the TLS bytes, so a cut still
// cuts, latency still delays, and a heal restores the link.
func TestClusterTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ares-server processes")
	}
	bin := serverBin(t)
	dir := t.TempDir()
	rt, err := harness.NewRunTLS(filepath.Join(dir, harness.TLSDir))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{RunDir: dir, Pool: 3, ServerBin: bin, TLS: rt})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range c.servers {
		if args := serverArgs(s); !slices.Contains(args, "--tls-cert") || !slices.Contains(args, "--tls-ca") {
			t.Fatalf("%s starts without its certificate: %v", s.id, args)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	defer c.Stop(context.Background(), "")
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := &ares.Config{Servers: c.Pool(), DAP: ares.ABD}
	spec := harness.ClientSpec{Initial: cfg, PB: true}
	cl, err := c.NewClient(ctx, "c0", spec)
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := c.ControlClient(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	op := func(cl harness.Client, v string, timeout time.Duration) error {
		octx, ocancel := context.WithTimeout(ctx, timeout)
		defer ocancel()
		if _, err := cl.Write(octx, "k", []byte(v)); err != nil {
			return err
		}
		got, _, err := cl.Read(octx, "k")
		if err == nil && string(got) != v {
			err = fmt.Errorf("read %q after writing %q", got, v)
		}
		return err
	}
	if err := op(cl, "v1", 5*time.Second); err != nil {
		t.Fatalf("the run's client, through its links: %v", err)
	}
	if err := op(ctl, "v2", 5*time.Second); err != nil {
		t.Fatalf("the control client: %v", err)
	}

	// Strangers: no TLS at all, and TLS trusting the servers but without
	// a certificate of the run.
	rootCfg, err := rt.ClientConfig("")
	if err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string][]aresrpc.Option{
		"plaintext":      nil,
		"no certificate": {aresrpc.WithTLS(&tls.Config{RootCAs: rootCfg.RootCAs, MinVersion: tls.VersionTLS13})},
	} {
		tr := aresrpc.NewTransport(opts...)
		stranger, err := ares.NewClient(ares.ClientOptions{ID: "stranger", Initial: cfg, Transport: tr})
		if err != nil {
			t.Fatal(err)
		}
		octx, ocancel := context.WithTimeout(ctx, 2*time.Second)
		err = stranger.Write(octx, "k", []byte("intruder"))
		ocancel()
		tr.Close()
		if err == nil {
			t.Errorf("a %s client wrote to the cluster", name)
		}
	}
	if err := op(ctl, "v3", 5*time.Second); err != nil {
		t.Fatalf("after the strangers: %v", err)
	}

	// Faults on the links act on the TLS stream as on any other.
	majority := []nemesis.Link{{Client: "c0", Server: "s1"}, {Client: "c0", Server: "s2"}}
	if err := c.Cut(ctx, majority); err != nil {
		t.Fatal(err)
	}
	if err := op(cl, "v4", time.Second); !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ares.ErrUnavailable) {
		t.Errorf("c0 cut from s1 and s2: %v; want a timeout or unavailable", err)
	}
	if err := c.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if err := op(cl, "v5", 10*time.Second); err != nil {
		t.Fatalf("after the heal: %v", err)
	}
	all := []nemesis.Link{{Client: "c0", Server: "s1"}, {Client: "c0", Server: "s2"}, {Client: "c0", Server: "s3"}}
	if err := c.SetLatency(ctx, all, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := op(cl, "v6", 10*time.Second); err != nil {
		t.Fatalf("under latency: %v", err)
	}
	// A write and a read: at least two round trips of 100 ms more each.
	if d := time.Since(t0); d < 200*time.Millisecond {
		t.Errorf("a write and a read under 100 ms of latency took %v", d)
	}
	if err := c.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if err := op(cl, "v7", 5*time.Second); err != nil {
		t.Fatalf("after the latency healed: %v", err)
	}
}
