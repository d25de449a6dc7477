package aresrpc

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	pb "github.com/ares-torture/torture/ares/aresrpc/aresv1"
	"github.com/ares-torture/torture/deadline"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Small requests travel in a Session (see ares.proto): one stream per
// connection that stays open, each request a message with an id and each
// reply a message with the same id. A unary Call costs both sides a new
// HTTP/2 stream, headers to encode and decode, a goroutine and a flush;
// on this project's 2-core machines that was about 80 us of CPU per
// request, and a closed-loop run of 10 clients on 5 servers spent most of
// both cores on it (issue 14). A session message costs about half, a
// third with several requests in flight on the connection, since they
// share writes. What a Call did per request, a session does in the
// message: the caller's remaining time and span context travel in the
// request, the status in the reply.

// errUseStream is a session's answer to a request whose reply would hold a
// value sent apart: the caller asks again through Stream.
var errUseStream = errors.New("aresrpc: reply holds a large value; ask through Stream")

// session is the client end of one Session stream.
type session struct {
	ready  chan struct{} // closed once the stream is open or failed to
	st     pb.Ares_SessionClient
	cancel context.CancelFunc
	// sending is held by the caller in Send (a stream's Send is not safe
	// for concurrent use); a channel rather than a mutex, so that a
	// caller behind a Send that blocks (flow control towards a stalled
	// server) waits only as long as its context lets it.
	sending chan struct{}

	mu      sync.Mutex
	next    uint64
	pending map[uint64]chan *pb.SessionReply
	err     error         // why the session ended (set once)
	done    chan struct{} // closed when err is set
}

// openSession opens a session on cc in the background: the stream lives
// beyond the request that opened it, so it gets a context of its own,
// and that request waits for it with its own context (call).
func openSession(cc grpc.ClientConnInterface) *session {
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{
		ready:   make(chan struct{}),
		cancel:  cancel,
		sending: make(chan struct{}, 1),
		pending: map[uint64]chan *pb.SessionReply{},
		done:    make(chan struct{}),
	}
	go func() {
		st, err := pb.NewAresClient(cc).Session(ctx)
		if err != nil {
			s.fail(err)
			close(s.ready)
			return
		}
		s.st = st
		close(s.ready)
		s.receiver()
	}()
	return s
}

// ended reports whether the session failed or was closed.
func (s *session) ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// fail ends the session with err: every request waiting on it gets err.
func (s *session) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	if err == io.EOF {
		err = status.Error(codes.Unavailable, "session ended by the server")
	}
	s.err = err
	close(s.done)
	s.cancel()
}

func (s *session) receiver() {
	for {
		r, err := s.st.Recv()
		if err != nil {
			s.fail(err)
			return
		}
		s.mu.Lock()
		ch := s.pending[r.Id]
		delete(s.pending, r.Id)
		s.mu.Unlock()
		if ch != nil {
			ch <- r // buffered: never blocks
		}
	}
}

// call sends req and waits for its reply, ctx, or the session's end. A
// reply's error status is returned as the error a Call would end with.
func (s *session) call(ctx context.Context, req *pb.Request) (*pb.Response, error) {
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := deadline.Err(ctx); err != nil {
		return nil, err
	}
	m := &pb.SessionRequest{Request: req}
	carrier := propagation.MapCarrier{}
	traceContext.Inject(ctx, carrier)
	if len(carrier) > 0 {
		m.Trace = carrier
	}
	ch := make(chan *pb.SessionReply, 1)
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return nil, err
	}
	s.next++
	m.Id = s.next
	s.pending[m.Id] = ch
	s.mu.Unlock()
	forget := func() {
		s.mu.Lock()
		delete(s.pending, m.Id)
		s.mu.Unlock()
	}
	// Callers send in their own goroutine: a hand-off to a sending one
	// cost every request a wake-up.
	select {
	case s.sending <- struct{}{}:
	case <-ctx.Done():
		forget()
		return nil, ctx.Err()
	case <-s.done:
		forget()
		return nil, s.err
	}
	if err := deadline.Err(ctx); err != nil {
		<-s.sending
		forget() // its caller is gone: the server need not run it
		return nil, err
	}
	if d, ok := ctx.Deadline(); ok {
		m.TimeoutNs = max(1, int64(time.Until(d)))
	}
	// Send can outlast ctx: it waits for flow control on the session's
	// context only, so towards a stalled server (paused, or its link
	// cut) the caller in it stays until the window opens or keepalive
	// ends the connection. Those behind it leave at their deadlines;
	// its phase does not wait for it (the quorum is gathered apart).
	// A failed Send (io.EOF: the stream broke) is not the reason: the
	// receiver's Recv says why (Unimplemented from an older server, say)
	// and ends the session, which ends the wait below.
	_ = s.st.Send(m)
	<-s.sending
	var r *pb.SessionReply
	select {
	case r = <-ch:
	case <-ctx.Done():
		forget()
		return nil, ctx.Err()
	case <-s.done:
		select {
		case r = <-ch: // answered just before the end
		default:
			return nil, s.err
		}
	}
	switch {
	case r.Code != 0:
		return nil, status.Error(codes.Code(r.Code), r.Message)
	case r.UseStream:
		return nil, errUseStream
	case r.Response == nil:
		return nil, status.Error(codes.Internal, "session: a reply with neither response nor error")
	}
	return r.Response, nil
}

// Session implements aresv1.AresServer: each request is answered in a
// goroutine of its own, as Call's are, so a slow one (a put waiting for
// its fsync) holds up no other. A session ends when the client ends it or
// when the server shuts down (Health.Shutdown): then once every request
// it received is answered, since a client keeps its session open for good
// and gRPC's GracefulStop waits for open streams.
func (s *service) Session(st pb.Ares_SessionServer) error {
	ctx := st.Context()
	var (
		sendMu sync.Mutex // a stream's Send is not safe for concurrent use
		wg     sync.WaitGroup
		mu     sync.Mutex
		closed bool // Session is returning: no new request starts
	)
	// No Send after Session returns: gRPC forbids it.
	defer func() {
		mu.Lock()
		closed = true
		mu.Unlock()
		wg.Wait()
	}()
	ended := make(chan error, 1)
	// The receiving goroutine starts each request's goroutine itself: a
	// hand-off through another goroutine cost every request a wake-up
	// (a third of a small request's CPU, BenchmarkSession).
	go func() {
		for {
			m, err := st.Recv()
			if err != nil {
				ended <- err
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				return
			}
			wg.Add(1)
			mu.Unlock()
			go func() {
				defer wg.Done()
				out := s.sessionReply(ctx, m)
				sendMu.Lock()
				defer sendMu.Unlock()
				_ = st.Send(out) // a failed Send ends the stream: Recv returns
			}()
		}
	}()
	select {
	case err := <-ended:
		if err == io.EOF {
			return nil
		}
		return err
	case <-s.stopping:
		return nil
	}
}

// sessionReply answers one session request, with what Call would have
// answered it.
func (s *service) sessionReply(ctx context.Context, in *pb.SessionRequest) *pb.SessionReply {
	if len(in.Trace) > 0 {
		ctx = traceContext.Extract(ctx, propagation.MapCarrier(in.Trace))
	}
	if in.TimeoutNs > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(in.TimeoutNs))
		defer cancel()
	}
	r := &pb.SessionReply{Id: in.Id}
	out, err := s.call(ctx, in.Request)
	if err != nil {
		st := status.Convert(err)
		r.Code, r.Message = uint32(st.Code()), st.Message()
		return r
	}
	for _, o := range out.GetObjects() {
		for _, e := range o.GetEntries() {
			if apart(e.Value) {
				r.UseStream = true
				return r
			}
		}
	}
	r.Response = out
	return r
}
