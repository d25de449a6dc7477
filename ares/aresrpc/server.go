// Package aresrpc carries ARES messages over gRPC: the ares.v1 service
// (generated code in aresv1), conversions between its messages and the
// structs of package ares, a server adapter for an ares.Handler, and a
// client Transport.
package aresrpc

import (
	"context"
	"crypto/tls"
	"errors"
	"sync"
	"time"

	"github.com/ares-torture/torture/ares"
	pb "github.com/ares-torture/torture/ares/aresrpc/aresv1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// MaxMsgSize bounds one gRPC message each way. A put-data or get-data of an
// ABD value of 64 MiB is a little over 64 MiB; EC get-data replies carry up
// to δ+1 elements per key. 256 MiB leaves room for both. The Transport
// sends values of StreamMin bytes or more apart, in chunks (Stream), so
// the bound applies to its messages less their large values; it holds
// whole for Call, which older clients use.
const MaxMsgSize = 256 << 20

// Flow-control windows, fixed at both ends. gRPC's default sizes them by
// BDP estimation, which sends a window update and a PING at the first
// data frame after each PING's ack: with one small message per round
// trip on a connection, as an ARES phase sends, every request cost the
// server a ping to write and the client one to read and acknowledge, and
// every reply the same the other way, doubling the wake-ups of a small
// request (issue 14). A window set at both ends switches the estimation
// off. The sizes are what it grows to at most (its limit is 16 MiB), so
// large values stream as fast; a connection holds at most connWindow of
// data its server has not read.
const (
	streamWindow = 8 << 20
	connWindow   = 16 << 20
)

// ServiceName is the gRPC service name, also used for its health status.
const ServiceName = "ares.v1.Ares"

// ServerOptions returns the gRPC server options an ARES server needs:
// message limits for large values, and a keepalive policy that accepts the
// pings of this package's Transport.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(extractSpan),
		grpc.ChainStreamInterceptor(extractSpanStream),
		grpc.MaxRecvMsgSize(MaxMsgSize),
		grpc.MaxSendMsgSize(MaxMsgSize),
		grpc.StaticStreamWindowSize(streamWindow),
		grpc.StaticConnWindowSize(connWindow),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			// Below the clients' ping interval, so they are never sent
			// away for pinging too often.
			MinTime:             clientKeepaliveTime / 2,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:    30 * time.Second,
			Timeout: 10 * time.Second,
		}),
	}
}

// ServerTLS is the server option that makes a gRPC server speak TLS with
// cfg (see pki.ServerConfig: clients without a certificate of the run's CA
// are refused at the handshake).
func ServerTLS(cfg *tls.Config) grpc.ServerOption {
	return grpc.Creds(credentials.NewTLS(cfg))
}

// Register serves h as the ares.v1.Ares service on gs and registers the
// standard gRPC health service, reporting SERVING for the whole server and
// for ServiceName. The caller may flip it with the returned Health
// (Shutdown marks everything NOT_SERVING and ends the sessions).
func Register(gs *grpc.Server, h ares.Handler) *Health {
	svc := &service{h: h, stopping: make(chan struct{})}
	pb.RegisterAresServer(gs, svc)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	return &Health{Server: hs, svc: svc}
}

// Health is the health service Register starts, with the switch that ends
// the server's sessions.
type Health struct {
	*health.Server
	svc *service
}

// Shutdown marks every service NOT_SERVING and ends every Session once
// the requests it received are answered. Call it before gRPC's
// GracefulStop, which otherwise waits for the clients' sessions, open
// for good, until its caller gives up.
func (h *Health) Shutdown() {
	h.Server.Shutdown()
	h.svc.stopOnce.Do(func() { close(h.svc.stopping) })
}

type service struct {
	pb.UnimplementedAresServer
	h        ares.Handler
	stopping chan struct{} // closed by Health.Shutdown: sessions end
	stopOnce sync.Once
}

// Call implements aresv1.AresServer.
func (s *service) Call(ctx context.Context, in *pb.Request) (*pb.Response, error) {
	return s.call(ctx, in)
}

// call answers one request, for Call and Stream; errors are gRPC statuses.
func (s *service) call(ctx context.Context, in *pb.Request) (*pb.Response, error) {
	req, err := RequestFromPB(in)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "bad request: %v", err)
	}
	resp, err := s.h.Handle(ctx, req)
	if err != nil {
		return nil, status.Error(errorCode(ctx, err), err.Error())
	}
	if resp == nil {
		return nil, status.Errorf(codes.Internal, "handler returned no response to %s", req.Op)
	}
	return ResponseToPB(resp), nil
}

// errorCode maps a handler's error to a gRPC code: a refusal
// (ares.RefusedError) is InvalidArgument, which the client side turns back
// into an ares.RefusedError and does not resend.
func errorCode(ctx context.Context, err error) codes.Code {
	switch {
	case ares.IsRefused(err):
		return codes.InvalidArgument
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		return codes.Canceled
	}
	return codes.Unknown
}
