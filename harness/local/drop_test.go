package local

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/nemesis"
)

// answering is a client transport whose every call is answered at once,
// with an empty tag or object, as by servers that hold nothing.
type answering struct{ calls atomic.Int64 }

func (a *answering) Call(_ context.Context, to ares.Node, req *ares.Request) (*ares.Response, error) {
	a.calls.Add(1)
	resp := &ares.Response{ID: req.ID, From: to.ID}
	for range req.Keys {
		resp.Tags = append(resp.Tags, ares.Tag{})
		resp.Objects = append(resp.Objects, ares.Object{})
	}
	return resp, nil
}

func (a *answering) Close() error { return nil }

// TestSetDrop: SetDrop loses a workload client's messages to the servers
// named (a write needing them times out), not the control client's, and
// Heal restores delivery. No server runs: the transport answers itself.
func TestSetDrop(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tr := &answering{}
	c, err := New(Options{RunDir: t.TempDir(), Pool: 3, ServerBin: self,
		NewTransport: func(func(context.Context, string) (net.Conn, error)) (ares.Transport, io.Closer, error) {
			return tr, tr, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background(), "")
	cfg := &ares.Config{Servers: c.Pool(), DAP: ares.ABD}
	ctx := context.Background()
	cl, err := c.NewClient(ctx, "c0", harness.ClientSpec{Initial: cfg, PB: true})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := c.ControlClient(ctx, harness.ClientSpec{Initial: cfg, PB: true})
	if err != nil {
		t.Fatal(err)
	}
	links := []nemesis.Link{{Client: "c0", Server: "s1"}, {Client: "c0", Server: "s2"}}
	if err := c.SetDrop(ctx, links, 1); err != nil {
		t.Fatal(err)
	}
	octx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = cl.Write(octx, "k", []byte("v"))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write with two of three servers dropped: %v; want a timeout", err)
	}
	if _, err := ctl.Write(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("control client under a drop: %v", err)
	}
	if err := c.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	octx, cancel = context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := cl.Write(octx, "k", []byte("v")); err != nil {
		t.Fatalf("write after heal: %v", err)
	}
	if err := c.SetDrop(ctx, []nemesis.Link{{Client: "c9", Server: "s1"}}, 0.5); err == nil {
		t.Fatal("drop on an unknown client accepted")
	}
}
