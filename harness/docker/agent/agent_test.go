package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/ares/memnet"
)

// cluster starts an agent over an in-memory ARES network of n servers.
func cluster(t *testing.T, n int) (*memnet.Network, *ares.Config, string) {
	t.Helper()
	net := memnet.New(1)
	cfg := &ares.Config{DAP: ares.ABD}
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("s%d", i)
		s, err := ares.NewServer(ares.NewMemStorage(), ares.ServerOptions{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		net.AddServer(id, s)
		cfg.Servers = append(cfg.Servers, ares.Node{ID: id, Addr: id + ":7000"})
	}
	srv, err := NewServer(Options{Transport: net.Client("agent")})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return net, cfg, strings.TrimPrefix(hs.URL, "http://")
}

func TestAgentReadWriteReconfig(t *testing.T) {
	_, cfg, addr := cluster(t, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := NewClient(addr, "c0")
	defer c.Close()
	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx, "k"); err == nil || !strings.Contains(err.Error(), "init") {
		t.Fatalf("read before init: %v", err)
	}
	if err := c.Init(ctx, InitRequest{Initial: cfg}); err != nil {
		t.Fatal(err)
	}
	if v, info, err := c.Read(ctx, "k"); err != nil || v != nil || !info.Tag.IsZero() || info.Configs != 1 {
		t.Fatalf("initial read: %q, %+v, %v", v, info, err)
	}
	info, err := c.Write(ctx, "k", []byte("v1"))
	if err != nil || info.Tag.TS != 1 || !strings.HasPrefix(info.Tag.WID, "c0-") || info.Configs != 1 {
		t.Fatalf("write: %+v, %v", info, err)
	}
	// A second client of the same agent sees the write.
	c2 := NewClient(addr, "c1")
	if err := c2.Init(ctx, InitRequest{Initial: cfg}); err != nil {
		t.Fatal(err)
	}
	if v, info, err := c2.Read(ctx, "k"); err != nil || string(v) != "v1" || info.Tag.TS != 1 {
		t.Fatalf("read by c1: %q, %+v, %v", v, info, err)
	}
	target := &ares.Config{Servers: cfg.Servers[:3], DAP: ares.EC, K: 1}
	got, err := c.Reconfig(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID == 0 || got.DAP != ares.EC || len(got.Servers) != 3 {
		t.Fatalf("installed %v", got)
	}
	if v, info, err := c2.Read(ctx, "k"); err != nil || string(v) != "v1" || info.Config != got.ID || info.Elements != 1 {
		t.Fatalf("read after reconfig: %q, %+v, %v", v, info, err)
	}
}

// TestAgentRenew: a renewed client writes with a new writer id, through
// /v1/renew, and through a repeated init on an agent without it.
func TestAgentRenew(t *testing.T) {
	_, cfg, addr := cluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := NewClient(addr, "c0")
	defer c.Close()
	if err := c.Renew(ctx); err == nil {
		t.Fatal("renew before init accepted")
	}
	if err := c.Init(ctx, InitRequest{Initial: cfg}); err != nil {
		t.Fatal(err)
	}
	wid := func() string {
		t.Helper()
		info, err := c.Write(ctx, "k", []byte("v"))
		if err != nil {
			t.Fatal(err)
		}
		return info.Tag.WID
	}
	w1 := wid()
	if err := c.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	w2 := wid()
	if w1 == w2 || !strings.HasPrefix(w2, "c0-") {
		t.Fatalf("writer ids %s then %s", w1, w2)
	}

	// An agent of before /v1/renew: its init makes the fresh client, and
	// its write reply {} decodes as a write without info.
	srv, err := NewServer(Options{Transport: memnet.New(2).Client("old")})
	if err != nil {
		t.Fatal(err)
	}
	var inits atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/init", func(w http.ResponseWriter, r *http.Request) { inits.Add(1); srv.ServeHTTP(w, r) })
	mux.HandleFunc("POST /v1/write", func(w http.ResponseWriter, r *http.Request) { reply(w, struct{}{}) })
	hs := httptest.NewServer(mux)
	defer hs.Close()
	old := NewClient(strings.TrimPrefix(hs.URL, "http://"), "c0")
	if err := old.Init(ctx, InitRequest{Initial: cfg}); err != nil {
		t.Fatal(err)
	}
	if err := old.Renew(ctx); err != nil || inits.Load() != 2 {
		t.Fatalf("renew on an old agent: %v after %d inits", err, inits.Load())
	}
	if info, err := old.Write(ctx, "k", []byte("v")); err != nil || info != (ares.OpInfo{}) {
		t.Fatalf("old agent's write reply: %+v, %v", info, err)
	}
}

func TestAgentErrorsKeepTheirKind(t *testing.T) {
	net, cfg, addr := cluster(t, 3)
	c := NewClient(addr, "c0")
	ctx := context.Background()
	if err := c.Init(ctx, InitRequest{Initial: cfg}); err != nil {
		t.Fatal(err)
	}
	net.Cut("agent", "s1")
	net.Cut("agent", "s2")
	octx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	_, err := c.Write(octx, "k", []byte("v"))
	if !errors.Is(err, ares.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write without a quorum: %v (want unavailable or deadline)", err)
	}
	if err := c.Init(ctx, InitRequest{Initial: &ares.Config{DAP: ares.EC, K: 3, Servers: cfg.Servers}}); err == nil {
		t.Fatal("init with an invalid configuration accepted")
	}
	resp, err := http.Post("http://"+addr+"/v1/write", "application/json", strings.NewReader("{not json"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("garbage body: status %d", resp.StatusCode)
	}
}

func TestRemoteErrorUnwrap(t *testing.T) {
	for kind, want := range map[string]error{KindUnavailable: ares.ErrUnavailable, KindDeadline: context.DeadlineExceeded, KindCanceled: context.Canceled} {
		if err := fmt.Errorf("read: %w", &RemoteError{Kind: kind, Message: "x"}); !errors.Is(err, want) {
			t.Errorf("%s does not unwrap to %v", kind, want)
		}
	}
	if errors.Is(&RemoteError{Kind: KindOther}, ares.ErrUnavailable) {
		t.Error("other unwraps to unavailable")
	}
	for _, tc := range []struct {
		err  error
		kind string
	}{
		{fmt.Errorf("x: %w", ares.ErrUnavailable), KindUnavailable},
		{context.DeadlineExceeded, KindDeadline},
		{context.Canceled, KindCanceled},
		{errors.New("boom"), KindOther},
	} {
		if k, _ := classify(tc.err); k != tc.kind {
			t.Errorf("classify(%v) = %s, want %s", tc.err, k, tc.kind)
		}
	}
}

// TestAgentDrop: /v1/drop makes the agent's transport lose every message
// to the servers named, so an operation that needs them times out, and an
// empty table heals.
func TestAgentDrop(t *testing.T) {
	_, cfg, addr := cluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := NewClient(addr, "c0")
	defer c.Close()
	if err := c.Init(ctx, InitRequest{Initial: cfg}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetDrop(ctx, map[string]float64{"s1": 1, "s2": 1}); err != nil {
		t.Fatal(err)
	}
	octx, ocancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := c.Write(octx, "k", []byte("v1"))
	ocancel()
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ares.ErrUnavailable) {
		t.Fatalf("write with two of three servers dropped: %v; want a timeout", err)
	}
	// One server dropped leaves a quorum.
	if err := c.SetDrop(ctx, map[string]float64{"s1": 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(ctx, "k", []byte("v2")); err != nil {
		t.Fatalf("write with s1 dropped: %v", err)
	}
	if err := c.SetDrop(ctx, nil); err != nil {
		t.Fatal(err)
	}
	octx, ocancel = context.WithTimeout(ctx, 2*time.Second)
	defer ocancel()
	if _, err := c.Write(octx, "k", []byte("v3")); err != nil {
		t.Fatalf("write after heal: %v", err)
	}
	if err := c.SetDrop(ctx, map[string]float64{"s1": 2}); err == nil {
		t.Fatal("p=2 accepted")
	}
}
