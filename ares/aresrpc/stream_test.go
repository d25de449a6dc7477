package aresrpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	pb "github.com/ares-torture/torture/ares/aresrpc/aresv1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// methods counts the calls a server got by method.
// methods counts Call and Stream calls, and the requests of Sessions.
type methods struct{ call, stream, session atomic.Int64 }

// countRecv counts the messages a server stream receives.
type countRecv struct {
	grpc.ServerStream
	n *atomic.Int64
}

func (c countRecv) RecvMsg(m any) error {
	err := c.ServerStream.RecvMsg(m)
	if err == nil {
		c.n.Add(1)
	}
	return err
}

// serveCounting is serve with the calls counted by method.
func serveCounting(t *testing.T, h ares.Handler) (string, *methods) {
	t.Helper()
	m := &methods{}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(ServerOptions(),
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			m.call.Add(1)
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if strings.HasSuffix(info.FullMethod, "/Session") {
				return h(srv, countRecv{ss, &m.session})
			}
			m.stream.Add(1)
			return h(srv, ss)
		}))
	gs := grpc.NewServer(opts...)
	Register(gs, h)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return lis.Addr().String(), m
}

func pattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>11 + seed)
	}
	return b
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestStreamValues: values of every size around the thresholds, several
// in one request, come back intact; requests with a large value and
// the others through the Session, query-data too unless its reply holds
// a large value: then the session says so and it goes through Stream.
func TestStreamValues(t *testing.T) {
	addr, m := serveCounting(t, &echo{from: "s1"})
	tr := newTransport(t)
	node := ares.Node{ID: "s1", Addr: addr}
	sizes := []int{0, 1, StreamMin - 1, StreamMin, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3*ChunkSize + 5}
	req := &ares.Request{ID: 9, Op: ares.OpPutData}
	for i, n := range sizes {
		req.Items = append(req.Items, ares.Item{Key: fmt.Sprint("k", i), Tag: ares.Tag{TS: uint64(i + 1), WID: "w"}, Value: pattern(n, i)})
	}
	resp, err := tr.Call(ctxFor(t), node, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ID != 9 || resp.From != "s1" || len(resp.Objects) != len(sizes) {
		t.Fatalf("response %+v", resp)
	}
	for i, o := range resp.Objects {
		e := o.Entries[0]
		if o.Key != fmt.Sprint("k", i) || e.Tag.TS != uint64(i+1) || !e.HasValue || !bytes.Equal(e.Value, req.Items[i].Value) {
			t.Fatalf("object %d (%d bytes) came back as %q %v with %d bytes", i, sizes[i], o.Key, e.Tag, len(e.Value))
		}
		if len(e.Value) > 0 && cap(e.Value) != len(e.Value) && apart(e.Value) {
			t.Fatalf("object %d: a value of %d bytes in a buffer of %d", i, len(e.Value), cap(e.Value))
		}
	}
	if m.stream.Load() != 1 || m.call.Load() != 0 || m.session.Load() != 0 {
		t.Fatalf("put-data with large values: %d Stream, %d Call, %d in sessions; want 1, 0, 0", m.stream.Load(), m.call.Load(), m.session.Load())
	}
	small := &ares.Request{Op: ares.OpPutData, Items: []ares.Item{{Key: "s", Value: pattern(StreamMin-1, 0)}}}
	for _, r := range []*ares.Request{small, {Op: ares.OpQueryTag}, {Op: ares.OpQueryData, TagsOnly: true}} {
		if _, err := tr.Call(ctxFor(t), node, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tr.Call(ctxFor(t), node, &ares.Request{Op: ares.OpQueryData, Keys: []string{"k"}}); err != nil {
		t.Fatal(err)
	}
	if m.stream.Load() != 1 || m.call.Load() != 0 || m.session.Load() != 4 {
		t.Fatalf("%d Stream, %d Call, %d in sessions; want 1 (large put-data), 0 and 4", m.stream.Load(), m.call.Load(), m.session.Load())
	}
}

// TestSessionRedirectsLargeReplies: a query-data whose reply holds a large
// value is asked in the session, which answers "use Stream", then through
// Stream; the value comes back whole.
func TestSessionRedirectsLargeReplies(t *testing.T) {
	big := pattern(StreamMin, 3)
	addr, m := serveCounting(t, handlerFunc(func(_ context.Context, r *ares.Request) (*ares.Response, error) {
		v := []byte("small")
		if r.Keys[0] == "big" {
			v = big
		}
		return &ares.Response{Objects: []ares.Object{{Key: r.Keys[0], Entries: []ares.Entry{{Tag: ares.Tag{TS: 1, WID: "w"}, HasValue: true, Value: v}}}}}, nil
	}))
	tr := newTransport(t)
	node := ares.Node{ID: "s1", Addr: addr}
	for _, key := range []string{"small", "big"} {
		resp, err := tr.Call(ctxFor(t), node, &ares.Request{Op: ares.OpQueryData, Keys: []string{key}})
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Objects[0].Entries[0].Value; key == "big" && !bytes.Equal(got, big) || key == "small" && string(got) != "small" {
			t.Fatalf("%s: %d bytes back", key, len(got))
		}
	}
	if m.session.Load() != 2 || m.stream.Load() != 1 || m.call.Load() != 0 {
		t.Fatalf("%d in sessions, %d Stream, %d Call; want 2, 1, 0", m.session.Load(), m.stream.Load(), m.call.Load())
	}
}

// TestStreamServerErrors: a handler's refusal and failure reach the
// client through Stream as through Call.
func TestStreamServerErrors(t *testing.T) {
	s, _ := seeded(t)
	addr, _ := serveCounting(t, s)
	tr := newTransport(t)
	// s1 is not a member of the configuration named: refused.
	req := named(&ares.Request{Op: ares.OpPutData, Items: []ares.Item{{Key: "k", Tag: ares.Tag{TS: 1, WID: "w"}, Value: pattern(StreamMin, 1)}}},
		cfg(0, ares.ABD, 0, "s7", "s8"))
	_, err := tr.Call(ctxFor(t), ares.Node{ID: "s1", Addr: addr}, req)
	if !ares.IsRefused(err) {
		t.Fatalf("refused put-data through Stream: %v; want an ares.RefusedError", err)
	}
	eaddr, _ := serveCounting(t, &echo{})
	_, err = tr.Call(ctxFor(t), ares.Node{ID: "e", Addr: eaddr}, &ares.Request{Op: ares.OpInvalid, Items: []ares.Item{{Key: "k", Value: pattern(StreamMin, 1)}}})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("invalid op")) || ares.IsRefused(err) {
		t.Fatalf("failed handler through Stream: %v", err)
	}
}

// callOnly is a server from before Stream.
type callOnly struct {
	pb.UnimplementedAresServer
	s *service
}

func (c callOnly) Call(ctx context.Context, in *pb.Request) (*pb.Response, error) {
	return c.s.Call(ctx, in)
}

// TestStreamFallsBackToCall: against a server without Stream and Session,
// large values go in one message and small requests in Calls, as before.
func TestStreamFallsBackToCall(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(ServerOptions()...)
	pb.RegisterAresServer(gs, callOnly{s: &service{h: &echo{from: "old"}}})
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	tr := newTransport(t)
	v := pattern(2*ChunkSize, 3)
	resp, err := tr.Call(ctxFor(t), ares.Node{ID: "old", Addr: lis.Addr().String()}, &ares.Request{Op: ares.OpPutData, Items: []ares.Item{{Key: "k", Value: v}}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(resp.Objects[0].Entries[0].Value, v) {
		t.Fatal("value changed through the fallback")
	}
	// Small requests: the server has no Session either; the first learns
	// it, every one is answered through Call.
	for i := range 3 {
		resp, err := tr.Call(ctxFor(t), ares.Node{ID: "old", Addr: lis.Addr().String()}, &ares.Request{ID: uint64(i), Op: ares.OpQueryTag})
		if err != nil || resp.ID != uint64(i) {
			t.Fatalf("small request %d to a server without Session: %v, %+v", i, err, resp)
		}
	}
	if !tr.noSession[lis.Addr().String()] {
		t.Error("the transport did not note the server has no Session")
	}
}

// rawStream opens a Stream call to addr with the standard proto codec, as
// a client without this package's codec would.
func rawStream(t *testing.T, addr string) pb.Ares_StreamClient {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	st, err := pb.NewAresClient(cc).Stream(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func reqFrame(items ...*pb.Item) *pb.Frame {
	return &pb.Frame{Body: &pb.Frame_Request{Request: &pb.Request{Id: 1, Op: pb.Op_OP_PUT_DATA, Items: items}}}
}

func chunkFrame(b []byte) *pb.Frame { return &pb.Frame{Body: &pb.Frame_Chunk{Chunk: b}} }

// finish half-closes st and returns the response and the values that
// followed it, or the call's error.
func finish(st pb.Ares_StreamClient) (*pb.Response, [][]byte, error) {
	if err := st.CloseSend(); err != nil {
		return nil, nil, err
	}
	f, err := st.Recv()
	if err != nil {
		return nil, nil, err
	}
	var chunks [][]byte
	for {
		c, err := st.Recv()
		if err == io.EOF {
			return f.GetResponse(), chunks, nil
		}
		if err != nil {
			return nil, nil, err
		}
		chunks = append(chunks, c.GetChunk())
	}
}

// TestStreamStandardCodec: a client on the standard proto codec sends and
// receives chunk frames like any other message.
func TestStreamStandardCodec(t *testing.T) {
	addr, _ := serveCounting(t, &echo{from: "s1"})
	st := rawStream(t, addr)
	v := pattern(ChunkSize+10, 5)
	if err := st.Send(reqFrame(&pb.Item{Key: "k", ValueSize: int64(len(v))}, &pb.Item{Key: "small", Value: []byte("x")})); err != nil {
		t.Fatal(err)
	}
	// Chunks of any size do: the receiver fills the value as they come.
	for _, part := range [][]byte{v[:3], v[3:ChunkSize], v[ChunkSize:]} {
		if err := st.Send(chunkFrame(part)); err != nil {
			t.Fatal(err)
		}
	}
	resp, chunks, err := finish(st)
	if err != nil {
		t.Fatal(err)
	}
	es := resp.GetObjects()
	if len(es) != 2 || es[0].Entries[0].GetValueSize() != int64(len(v)) || string(es[1].Entries[0].GetValue()) != "x" {
		t.Fatalf("response %v", resp)
	}
	if got := bytes.Join(chunks, nil); !bytes.Equal(got, v) || len(chunks) != 2 {
		t.Fatalf("value came back in %d chunks, %d bytes, equal %v", len(chunks), len(got), bytes.Equal(got, v))
	}
}

// TestStreamMalformed: a stream out of order is refused before the
// handler sees anything (the codec's own checks end it with Internal).
func TestStreamMalformed(t *testing.T) {
	e := &echo{}
	addr, _ := serveCounting(t, e)
	for _, c := range []struct {
		name   string
		frames []*pb.Frame
		code   codes.Code
	}{
		{"chunk first", []*pb.Frame{chunkFrame([]byte("x"))}, codes.InvalidArgument},
		{"response first", []*pb.Frame{{Body: &pb.Frame_Response{Response: &pb.Response{}}}}, codes.InvalidArgument},
		{"value and size", []*pb.Frame{reqFrame(&pb.Item{Key: "k", Value: []byte("x"), ValueSize: 1})}, codes.InvalidArgument},
		{"negative size", []*pb.Frame{reqFrame(&pb.Item{Key: "k", ValueSize: -1})}, codes.InvalidArgument},
		{"too large", []*pb.Frame{reqFrame(&pb.Item{Key: "a", ValueSize: MaxStreamBytes / 2}, &pb.Item{Key: "b", ValueSize: MaxStreamBytes/2 + 1})}, codes.InvalidArgument},
		{"short", []*pb.Frame{reqFrame(&pb.Item{Key: "k", ValueSize: 10}), chunkFrame(make([]byte, 9))}, codes.InvalidArgument},
		{"long chunk", []*pb.Frame{reqFrame(&pb.Item{Key: "k", ValueSize: 10}), chunkFrame(make([]byte, 11))}, codes.InvalidArgument},
		{"extra frame", []*pb.Frame{reqFrame(&pb.Item{Key: "k", ValueSize: 1}), chunkFrame([]byte("x")), chunkFrame([]byte("y"))}, codes.InvalidArgument},
		{"two requests", []*pb.Frame{reqFrame(), reqFrame()}, codes.InvalidArgument},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := rawStream(t, addr)
			for _, f := range c.frames {
				if err := st.Send(f); err != nil && err != io.EOF {
					t.Fatal(err)
				}
			}
			_, _, err := finish(st)
			if status.Code(err) != c.code {
				t.Fatalf("got %v; want %v", err, c.code)
			}
		})
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n != 0 {
		t.Fatalf("the handler saw %d malformed requests", e.n)
	}
}

// TestStreamCodecMalformedChunk: through this package's codec, a chunk
// longer than the value's rest, or a frame that is not a chunk where one
// is due, ends the call without a write past the value.
func TestStreamCodecMalformedChunk(t *testing.T) {
	e := &echo{}
	addr, _ := serveCounting(t, e)
	cc, err := grpc.NewClient("passthrough:///"+addr, DialOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	for _, frames := range [][]*pb.Frame{
		{reqFrame(&pb.Item{Key: "k", ValueSize: 10}), chunkFrame(make([]byte, 11))},
		{reqFrame(&pb.Item{Key: "k", ValueSize: 10}), reqFrame()},
	} {
		st, err := pb.NewAresClient(cc).Stream(ctxFor(t), grpc.CallContentSubtype(streamCodecName))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frames {
			if err := st.Send(f); err != nil && err != io.EOF {
				t.Fatal(err)
			}
		}
		if _, _, err := finish(st); err == nil {
			t.Fatal("malformed chunk accepted")
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n != 0 {
		t.Fatalf("the handler saw %d malformed requests", e.n)
	}
}

// TestChunkSinkSplitBuffers: a chunk frame received in pieces (gRPC hands
// the codec a list of buffers) is parsed and copied whole, wherever the
// pieces split its header and bytes.
func TestChunkSinkSplitBuffers(t *testing.T) {
	for _, n := range []int{1, 127, 128, 300, 20000} {
		v := pattern(n, n)
		wire, err := proto.Marshal(chunkFrame(v))
		if err != nil {
			t.Fatal(err)
		}
		for _, cuts := range [][2]int{{0, 0}, {1, 1}, {1, 2}, {2, 3}, {3, 4}, {1, len(wire) - 1}, {len(wire) / 2, len(wire)/2 + 1}} {
			var data mem.BufferSlice
			prev := 0
			for _, c := range []int{cuts[0], cuts[1], len(wire)} {
				if c = min(c, len(wire)); c > prev {
					data = append(data, mem.SliceBuffer(wire[prev:c]))
					prev = c
				}
			}
			dst := make([]byte, n+5)
			s := chunkSink{dst: dst}
			if err := s.fill(data); err != nil {
				t.Fatalf("%d bytes, cut at %v: %v", n, cuts, err)
			}
			if s.n != n || !bytes.Equal(dst[:n], v) || !bytes.Equal(dst[n:], make([]byte, 5)) {
				t.Fatalf("%d bytes, cut at %v: got %d bytes", n, cuts, s.n)
			}
			if err := (&chunkSink{dst: make([]byte, n-1)}).fill(data); err == nil {
				t.Fatalf("%d bytes into %d: accepted", n, n-1)
			}
		}
	}
	other, _ := proto.Marshal(reqFrame())
	if err := (&chunkSink{dst: make([]byte, 10)}).fill(mem.BufferSlice{mem.SliceBuffer(other)}); err == nil {
		t.Fatal("a request frame taken for a chunk")
	}
	if err := (&chunkSink{dst: make([]byte, 10)}).fill(nil); err == nil {
		t.Fatal("an empty frame taken for a chunk")
	}
}

// TestStreamCancel: a call whose context ends while values are in flight
// returns the context's error, and the server's stream ends.
func TestStreamCancel(t *testing.T) {
	block := make(chan struct{})
	addr, _ := serveCounting(t, handlerFunc(func(ctx context.Context, req *ares.Request) (*ares.Response, error) {
		close(block)
		<-ctx.Done()
		return nil, ctx.Err()
	}))
	tr := newTransport(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-block; cancel() }()
	_, err := tr.Call(ctx, ares.Node{ID: "s", Addr: addr}, &ares.Request{Op: ares.OpPutData, Items: []ares.Item{{Key: "k", Value: pattern(3*ChunkSize, 0)}}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v; want context.Canceled", err)
	}
}

type handlerFunc func(context.Context, *ares.Request) (*ares.Response, error)

func (f handlerFunc) Handle(ctx context.Context, r *ares.Request) (*ares.Response, error) {
	return f(ctx, r)
}

// BenchmarkSmallRequest compares one small request's round trip through
// Call and through Stream (what a query-data for small values pays for
// going through Stream).
func BenchmarkSmallRequest(b *testing.B) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	gs := grpc.NewServer(ServerOptions()...)
	Register(gs, &echo{from: "s1"})
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()
	cc, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), DialOptions()...)
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()
	req := &ares.Request{Op: ares.OpQueryData, Keys: []string{"k"}, Items: []ares.Item{{Key: "k", Value: make([]byte, 1024)}}}
	ctx := context.Background()
	b.Run("call", func(b *testing.B) {
		defer cpuPerOp(b)()
		for b.Loop() {
			if _, err := pb.NewAresClient(cc).Call(ctx, RequestToPB(req)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stream", func(b *testing.B) {
		defer cpuPerOp(b)()
		for b.Loop() {
			if _, err := callStream(ctx, cc, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// cpuPerOp reports the process's CPU time per operation (client and
// server both run here), steadier than wall time on a busy machine.
func cpuPerOp(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() { b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op") }
}

// TestShutdownEndsSessions: a client keeps its session open for good;
// Health.Shutdown ends it, so GracefulStop returns at once instead of
// waiting for the client, and the client's next call fails instead of
// hanging.
func TestShutdownEndsSessions(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(ServerOptions()...)
	hs := Register(gs, &echo{from: "s1"})
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	tr := newTransport(t)
	node := ares.Node{ID: "s1", Addr: lis.Addr().String()}
	if _, err := tr.Call(ctxFor(t), node, &ares.Request{Op: ares.OpQueryTag}); err != nil {
		t.Fatal(err)
	}
	hs.Shutdown()
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(3 * time.Second):
		t.Fatal("GracefulStop still waiting for the client's session after 3s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := tr.Call(ctx, node, &ares.Request{Op: ares.OpQueryTag}); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a call to a stopped server: %v, want a failure before the deadline", err)
	}
}

// BenchmarkSession is one small request's round trip through a Transport
// (its session), the path of every small request of a run.
func BenchmarkSession(b *testing.B) {
	addr, _ := serve(b, "127.0.0.1:0", &echo{from: "s1"})
	tr := newTransport(b)
	node := ares.Node{ID: "s1", Addr: addr}
	req := &ares.Request{Op: ares.OpQueryTag, Keys: []string{"k"}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	defer cpuPerOp(b)()
	for b.Loop() {
		if _, err := tr.Call(ctx, node, req); err != nil {
			b.Fatal(err)
		}
	}
}
