package aresrpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/ares-torture/torture/ares"
	pb "github.com/ares-torture/torture/ares/aresrpc/aresv1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// ErrClosed is returned by Call on a closed Transport.
var ErrClosed = errors.New("aresrpc: transport closed")

// clientKeepaliveTime is how often an idle connection is pinged: a server
// that is paused or cut off is noticed within this plus its timeout, and
// the connection is rebuilt.
const clientKeepaliveTime = 10 * time.Second

// Option configures a Transport.
type Option func(*Transport)

// WithAddrMap makes the transport reach server n at f(n) instead of n.Addr,
// for instance at the address of a fault-injecting proxy in front of it.
// An empty result falls back to n.Addr.
func WithAddrMap(f func(n ares.Node) string) Option {
	return func(t *Transport) { t.addrMap = f }
}

// WithDialer replaces the TCP dialer, for instance with an in-memory one.
func WithDialer(d func(ctx context.Context, addr string) (net.Conn, error)) Option {
	return func(t *Transport) { t.dialer = d }
}

// WithDialOptions adds gRPC dial options after the transport's own.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(t *Transport) { t.extra = append(t.extra, opts...) }
}

// WithTLS makes the transport speak TLS with cfg (see package pki for the
// mutual-TLS configuration of a run) instead of plaintext.
func WithTLS(cfg *tls.Config) Option {
	return func(t *Transport) { t.tls = cfg }
}

// WithLogger logs connection set-up at debug level.
func WithLogger(l *slog.Logger) Option {
	return func(t *Transport) { t.log = l }
}

// Transport is an ares.Transport over gRPC. It opens one connection per
// server address on first use and keeps it; gRPC reconnects it after a
// failure (quickly: a server restart must be noticed within a second or so,
// not after gRPC's default backoff of up to two minutes). Safe for
// concurrent use.
type Transport struct {
	addrMap func(ares.Node) string
	dialer  func(ctx context.Context, addr string) (net.Conn, error)
	extra   []grpc.DialOption
	tls     *tls.Config
	log     *slog.Logger

	mu       sync.Mutex
	conns    map[string]*grpc.ClientConn
	sessions map[string]*session
	// noSession lists the addresses whose server has no Session method
	// (a server from before it): their small requests go through Call.
	noSession map[string]bool
	closed    bool
}

var _ ares.Transport = (*Transport)(nil)

// NewTransport returns a Transport; it connects to nothing until Call.
func NewTransport(opts ...Option) *Transport {
	t := &Transport{conns: map[string]*grpc.ClientConn{}, sessions: map[string]*session{}, noSession: map[string]bool{}}
	for _, o := range opts {
		o(t)
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	return t
}

// DialOptions returns the gRPC dial options the Transport uses, for other
// clients of an ARES server (health checks, tools).
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(injectSpan),
		grpc.WithChainStreamInterceptor(injectSpanStream),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMsgSize),
			grpc.MaxCallSendMsgSize(MaxMsgSize),
		),
		grpc.WithStaticStreamWindowSize(streamWindow),
		grpc.WithStaticConnWindowSize(connWindow),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  50 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   time.Second,
			},
			MinConnectTimeout: 2 * time.Second,
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                clientKeepaliveTime,
			Timeout:             5 * time.Second,
			PermitWithoutStream: true,
		}),
	}
}

// Call implements ares.Transport. It fails fast while the server's
// connection is down (the ares client resends); errors name the server.
// A request with a value of StreamMin bytes or more goes through the
// Stream method, its large values in chunks; the rest through the
// connection's Session, and through Stream again if the reply holds such
// a value. Servers without Session get Call instead.
func (t *Transport) Call(ctx context.Context, to ares.Node, req *ares.Request) (*ares.Response, error) {
	if req == nil {
		return nil, fmt.Errorf("server %s: null request", to.ID)
	}
	addr := to.Addr
	if t.addrMap != nil {
		if a := t.addrMap(to); a != "" {
			addr = a
		}
	}
	cc, err := t.conn(addr)
	if err != nil {
		return nil, fmt.Errorf("server %s (%s): %w", to.ID, addr, err)
	}
	var out *pb.Response
	apart := sendsApart(req)
	if !apart {
		out, err = t.callSession(ctx, addr, cc, req)
	}
	if apart || errors.Is(err, errUseStream) {
		out, err = callStream(ctx, cc, req)
		if status.Code(err) == codes.Unimplemented {
			// A server from before Stream: one message each way.
			out, err = pb.NewAresClient(cc).Call(ctx, RequestToPB(req))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("server %s (%s): %w", to.ID, addr, callError(ctx, err))
	}
	resp, err := ResponseFromPB(out)
	if err != nil {
		return nil, fmt.Errorf("server %s (%s): %w", to.ID, addr, err)
	}
	return resp, nil
}

// callError turns the end of a call's context into the context's own error
// (gRPC's timer may fire a moment before ctx's), so callers can test it with
// errors.Is.
func callError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	// Only a deadline: a Canceled status can come from a server shutting
	// down, which is not the caller's cancellation.
	if _, ok := ctx.Deadline(); ok && status.Code(err) == codes.DeadlineExceeded {
		return context.DeadlineExceeded
	}
	// The server refused the request (ares.RefusedError, or a request it
	// could not convert): it would refuse it again, and the ares client
	// stops sending it when it sees a RefusedError.
	if st, ok := status.FromError(err); ok && st.Code() == codes.InvalidArgument {
		return &ares.RefusedError{Reason: strings.TrimPrefix(st.Message(), "refused: ")}
	}
	return err
}

// callSession sends req through addr's session, opening one if there is
// none or the last one ended; a server without Session gets a Call.
func (t *Transport) callSession(ctx context.Context, addr string, cc *grpc.ClientConn, req *ares.Request) (*pb.Response, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, ErrClosed
	}
	s := t.sessions[addr]
	if t.noSession[addr] {
		s = nil
	} else if s == nil || s.ended() {
		s = openSession(cc)
		t.sessions[addr] = s
	}
	t.mu.Unlock()
	if s == nil {
		return pb.NewAresClient(cc).Call(ctx, RequestToPB(req))
	}
	out, err := s.call(ctx, RequestToPB(req))
	if status.Code(err) == codes.Unimplemented && s.ended() {
		// The stream itself was refused (not a reply): an older server.
		t.mu.Lock()
		t.noSession[addr] = true
		t.mu.Unlock()
		return pb.NewAresClient(cc).Call(ctx, RequestToPB(req))
	}
	return out, err
}

func (t *Transport) conn(addr string) (*grpc.ClientConn, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ErrClosed
	}
	if cc, ok := t.conns[addr]; ok {
		return cc, nil
	}
	opts := DialOptions()
	if t.dialer != nil {
		opts = append(opts, grpc.WithContextDialer(t.dialer))
	}
	if t.tls != nil {
		// After DialOptions' plaintext credentials: the last one wins.
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(t.tls)))
	}
	opts = append(opts, t.extra...)
	// passthrough: the address is dialled as given, no DNS resolver
	// between the client and a proxy or an in-memory dialer.
	cc, err := grpc.NewClient("passthrough:///"+addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	t.log.Debug("new connection", "addr", addr)
	t.conns[addr] = cc
	return cc, nil
}

// Close closes every connection; later Calls fail with ErrClosed.
func (t *Transport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	for _, s := range t.sessions {
		s.fail(ErrClosed)
	}
	t.sessions = nil
	var errs []error
	for addr, cc := range t.conns {
		if err := cc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", addr, err))
		}
	}
	t.conns = nil
	return errors.Join(errs...)
}
