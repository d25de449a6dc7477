package aresrpc

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// echo is a Handler that answers put-data with the items it got, as one
// object each, and fails requests with Op invalid.
type echo struct {
	from string
	mu   sync.Mutex
	n    int
}

func (e *echo) Handle(ctx context.Context, req *ares.Request) (*ares.Response, error) {
	e.mu.Lock()
	e.n++
	e.mu.Unlock()
	switch req.Op {
	case ares.OpInvalid:
		return nil, errors.New("invalid op")
	case ares.OpPrepare:
		<-ctx.Done() // a server that never answers
		return nil, ctx.Err()
	case ares.OpAccept:
		return nil, nil
	}
	resp := &ares.Response{ID: req.ID, From: e.from, Next: req.Next}
	for _, it := range req.Items {
		resp.Objects = append(resp.Objects, ares.Object{Key: it.Key, Entries: []ares.Entry{{Tag: it.Tag, HasValue: true, Value: it.Value}}})
	}
	return resp, nil
}

// serve starts a gRPC server for h on addr ("127.0.0.1:0" for any port)
// and returns its address and a stop function.
func serve(t testing.TB, addr string, h ares.Handler) (string, func()) {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	gs := grpc.NewServer(ServerOptions()...)
	Register(gs, h)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = gs.Serve(lis)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			gs.Stop()
			<-done
		})
	}
	t.Cleanup(stop)
	return lis.Addr().String(), stop
}

func newTransport(t testing.TB, opts ...Option) *Transport {
	tr := NewTransport(opts...)
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func TestCallEcho(t *testing.T) {
	addr, _ := serve(t, "127.0.0.1:0", &echo{from: "s1"})
	tr := newTransport(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := &ares.Request{ID: 5, Op: ares.OpPutData, Items: []ares.Item{{Key: "k", Tag: ares.Tag{TS: 1, WID: "w"}, Value: []byte("v")}},
		Next: ares.NextC{Cfg: cfg(1, ares.ABD, 0, "s1"), Status: ares.Pending}}
	resp, err := tr.Call(ctx, ares.Node{ID: "s1", Addr: addr}, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ID != 5 || resp.From != "s1" || len(resp.Objects) != 1 || string(resp.Objects[0].Entries[0].Value) != "v" || !resp.Next.Cfg.Equal(req.Next.Cfg) {
		t.Fatalf("unexpected response %+v", resp)
	}
}

func TestHandlerErrorsNameServer(t *testing.T) {
	addr, _ := serve(t, "127.0.0.1:0", &echo{from: "s1"})
	tr := newTransport(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	node := ares.Node{ID: "s1", Addr: addr}
	if _, err := tr.Call(ctx, node, &ares.Request{Op: ares.OpInvalid}); err == nil || !strings.Contains(err.Error(), "s1") || !strings.Contains(err.Error(), "invalid op") {
		t.Errorf("handler error = %v", err)
	}
	if _, err := tr.Call(ctx, node, &ares.Request{Op: ares.OpAccept}); err == nil || !strings.Contains(err.Error(), "no response") {
		t.Errorf("nil response error = %v", err)
	}
	if _, err := tr.Call(ctx, node, nil); err == nil {
		t.Error("nil request accepted")
	}
}

func TestCallDeadline(t *testing.T) {
	addr, _ := serve(t, "127.0.0.1:0", &echo{from: "s1"})
	tr := newTransport(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := tr.Call(ctx, ares.Node{ID: "s1", Addr: addr}, &ares.Request{Op: ares.OpPrepare})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "s1") {
		t.Fatalf("err = %v; want a deadline error naming s1", err)
	}
}

func TestUnreachableServer(t *testing.T) {
	// A port that was free a moment ago: nothing listens there.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	tr := newTransport(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err = tr.Call(ctx, ares.Node{ID: "s9", Addr: addr}, &ares.Request{Op: ares.OpQueryTag})
	if err == nil || !strings.Contains(err.Error(), "server s9") {
		t.Fatalf("err = %v; want an error naming s9", err)
	}
	if time.Since(start) > 4*time.Second {
		t.Errorf("an unreachable server took %v to fail; want fail-fast", time.Since(start))
	}
}

func TestAddrMapAndDialer(t *testing.T) {
	addr, _ := serve(t, "127.0.0.1:0", &echo{from: "s1"})
	var dialled []string
	var mu sync.Mutex
	tr := newTransport(t,
		WithAddrMap(func(n ares.Node) string {
			if n.ID == "s1" {
				return "proxy-for-s1:1"
			}
			return ""
		}),
		WithDialer(func(ctx context.Context, a string) (net.Conn, error) {
			mu.Lock()
			dialled = append(dialled, a)
			mu.Unlock()
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range 3 {
		if _, err := tr.Call(ctx, ares.Node{ID: "s1", Addr: "unused:1"}, &ares.Request{Op: ares.OpQueryTag}); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(dialled) != 1 || dialled[0] != "proxy-for-s1:1" {
		t.Fatalf("dialled %v; want one dial of the mapped address", dialled)
	}
}

func TestReconnectAfterRestart(t *testing.T) {
	h := &echo{from: "s1"}
	addr, stop := serve(t, "127.0.0.1:0", h)
	tr := newTransport(t)
	node := ares.Node{ID: "s1", Addr: addr}
	call := func(d time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		_, err := tr.Call(ctx, node, &ares.Request{Op: ares.OpQueryTag})
		return err
	}
	if err := call(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := call(time.Second); err == nil {
		t.Fatal("call to a stopped server succeeded")
	}
	// Let the connection's backoff grow for a while, then restart.
	time.Sleep(1500 * time.Millisecond)
	serve(t, addr, h)
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := call(time.Second)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reconnect within 5s of the restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestClose(t *testing.T) {
	addr, _ := serve(t, "127.0.0.1:0", &echo{from: "s1"})
	tr := NewTransport()
	ctx := context.Background()
	if _, err := tr.Call(ctx, ares.Node{ID: "s1", Addr: addr}, &ares.Request{Op: ares.OpQueryTag}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Call(ctx, ares.Node{ID: "s1", Addr: addr}, &ares.Request{Op: ares.OpQueryTag}); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after close: %v", err)
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestHealth(t *testing.T) {
	addr, _ := serve(t, "127.0.0.1:0", &echo{})
	cc, err := grpc.NewClient(addr, DialOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, svc := range []string{"", ServiceName} {
		resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatalf("health %q: %v", svc, err)
		}
		if resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health %q = %v", svc, resp.Status)
		}
	}
}

// TestLargeValue sends a 64 MiB value each way through one call.
func TestLargeValue(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB message")
	}
	addr, _ := serve(t, "127.0.0.1:0", &echo{from: "s1"})
	tr := newTransport(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	big := make([]byte, 64<<20+17)
	for i := range big {
		big[i] = byte(i*31 + i>>13)
	}
	resp, err := tr.Call(ctx, ares.Node{ID: "s1", Addr: addr}, &ares.Request{Op: ares.OpPutData, Items: []ares.Item{{Key: "big", Value: big}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Objects[0].Entries[0].Value; !bytes.Equal(got, big) {
		t.Fatalf("64 MiB value came back with %d bytes, different", len(got))
	}
}

func TestConcurrentCalls(t *testing.T) {
	var addrs []string
	for range 3 {
		a, _ := serve(t, "127.0.0.1:0", &echo{})
		addrs = append(addrs, a)
	}
	tr := newTransport(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := addrs[i%len(addrs)]
			if _, err := tr.Call(ctx, ares.Node{ID: "s", Addr: a}, &ares.Request{ID: uint64(i), Op: ares.OpQueryTag}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.conns) != len(addrs) {
		t.Fatalf("%d connections for %d addresses", len(tr.conns), len(addrs))
	}
}
