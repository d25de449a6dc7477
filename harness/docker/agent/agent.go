// Package agent is the client agent of the docker backend: a small HTTP
// server, run in its own container, that holds one ares.Client and executes
// the controller's Read, Write and Reconfig requests over the ARES network.
// The controller reaches it over a second network that faults never touch,
// and takes the history's timestamps itself.
//
// The protocol is JSON over HTTP:
//
//	POST /v1/init      InitRequest             -> {}
//	POST /v1/renew     RenewRequest            -> {}
//	POST /v1/read      KeyRequest              -> ValueResponse
//	POST /v1/write     WriteRequest            -> WriteResponse
//	POST /v1/reconfig  ReconfigRequest         -> ReconfigResponse
//	POST /v1/drop      DropRequest             -> {}
//	GET  /v1/health                            -> {}
//
// Replies of agents older than /v1/renew and the info fields decode too:
// a write's {} is a WriteResponse without Info.
//
// Errors come back as a non-2xx status with an ErrorResponse; Kind keeps the
// distinction the harness needs (no quorum, timed out, cancelled, other).
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/nemesis"
	"go.opentelemetry.io/otel/trace"
)

// TimeoutHeader carries the controller's remaining deadline in milliseconds,
// so that the agent gives up when the controller does.
const TimeoutHeader = "X-Ares-Timeout-Ms"

// InitRequest (re)creates the agent's ARES client named ID. An agent holds
// one client per id (the control agent serves the reconfigurer and the final
// reads with separate clients).
type InitRequest struct {
	ID      string       `json:"id"`
	Initial *ares.Config `json:"initial"`
	PB      bool         `json:"pb,omitempty"`
	Thrifty bool         `json:"thrifty,omitempty"`
	GC      bool         `json:"gc,omitempty"`
	Bug     ares.Bug     `json:"bug,omitempty"`
}

// KeyRequest names one object; Client names the agent's client.
type KeyRequest struct {
	Client string `json:"client"`
	Key    string `json:"key"`
}

// WriteRequest writes Value under Key.
type WriteRequest struct {
	Client string `json:"client"`
	Key    string `json:"key"`
	Value  []byte `json:"value"`
}

// RenewRequest replaces client Client by a fresh one (ares.Client.Renew):
// a new writer id, the configurations the old one knew.
type RenewRequest struct {
	Client string `json:"client"`
}

// DropRequest sets the message loss of the agent's transport: each RPC
// request to a server, and each reply, is lost with Drops[server id]
// (nemesis.DropTransport). It replaces what was set before; empty heals.
type DropRequest struct {
	Drops map[string]float64 `json:"drops"`
}

// Info is what an operation learned (ares.OpInfo) on the wire.
type Info struct {
	Tag      Tag    `json:"tag"`
	Config   uint64 `json:"config"`
	Configs  int    `json:"configs"`
	Elements int    `json:"elements,omitempty"`
	Behind   bool   `json:"behind,omitempty"`
}

// Tag is an ares.Tag on the wire.
type Tag struct {
	TS  uint64 `json:"ts"`
	WID string `json:"wid"`
}

func infoOf(i ares.OpInfo) *Info {
	return &Info{Tag: Tag{TS: i.Tag.TS, WID: i.Tag.WID}, Config: i.Config, Configs: i.Configs, Elements: i.Elements, Behind: i.Behind}
}

// OpInfo converts back; a missing Info (an older agent) is the zero
// OpInfo, which reports no configuration visited.
func (i *Info) OpInfo() ares.OpInfo {
	if i == nil {
		return ares.OpInfo{}
	}
	return ares.OpInfo{Tag: ares.Tag{TS: i.Tag.TS, WID: i.Tag.WID}, Config: i.Config, Configs: i.Configs, Elements: i.Elements, Behind: i.Behind}
}

// ValueResponse is a read's result; Value is nil for the initial value.
type ValueResponse struct {
	Value []byte `json:"value"`
	Info  *Info  `json:"info,omitempty"`
}

// WriteResponse is a write's result.
type WriteResponse struct {
	Info *Info `json:"info,omitempty"`
}

// ReconfigRequest asks for a reconfiguration to Target.
type ReconfigRequest struct {
	Client string       `json:"client"`
	Target *ares.Config `json:"target"`
}

// ReconfigResponse is the configuration as installed.
type ReconfigResponse struct {
	Config *ares.Config `json:"config"`
}

// Error kinds.
const (
	KindUnavailable = "unavailable" // wraps ares.ErrUnavailable
	KindDeadline    = "deadline"    // context.DeadlineExceeded
	KindCanceled    = "canceled"    // context.Canceled
	KindBadRequest  = "bad-request"
	KindNotReady    = "not-ready" // no /v1/init yet
	KindOther       = "other"
)

// ErrorResponse is the body of every failed request.
type ErrorResponse struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// Options configure a Server.
type Options struct {
	// Transport reaches the ARES servers.
	Transport ares.Transport
	Logger    *slog.Logger
	// Tracer receives the spans of the clients' operations, phases and
	// calls; nil: none.
	Tracer trace.Tracer
}

// Server is the agent's HTTP handler.
type Server struct {
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux
	// drop wraps opts.Transport: the ARES clients run in this process, so
	// this is where their messages can be lost (POST /v1/drop).
	drop *nemesis.DropTransport

	mu      sync.Mutex
	clients map[string]*ares.Client
}

// NewServer returns an agent that has no ARES client until /v1/init.
func NewServer(opts Options) (*Server, error) {
	if opts.Transport == nil {
		return nil, errors.New("agent: no transport")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{opts: opts, log: opts.Logger, mux: http.NewServeMux(), clients: map[string]*ares.Client{},
		drop: nemesis.NewDropTransport(opts.Transport, nil)}
	s.mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) { reply(w, struct{}{}) })
	s.mux.HandleFunc("POST /v1/init", s.init)
	s.mux.HandleFunc("POST /v1/renew", s.renew)
	s.mux.HandleFunc("POST /v1/read", s.read)
	s.mux.HandleFunc("POST /v1/write", s.write)
	s.mux.HandleFunc("POST /v1/cover", s.cover)
	s.mux.HandleFunc("POST /v1/reconfig", s.reconfig)
	s.mux.HandleFunc("POST /v1/drop", s.setDrop)
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) init(w http.ResponseWriter, r *http.Request) {
	var req InitRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Initial == nil {
		fail(w, http.StatusBadRequest, KindBadRequest, errors.New("init: no initial configuration"))
		return
	}
	if err := req.Initial.Validate(); err != nil {
		fail(w, http.StatusBadRequest, KindBadRequest, fmt.Errorf("init: %w", err))
		return
	}
	c, err := ares.NewClient(ares.ClientOptions{
		ID:        req.ID,
		Initial:   req.Initial,
		Transport: s.drop,
		PB:        req.PB,
		GC:        req.GC,
		Thrifty:   req.Thrifty,
		Bug:       req.Bug,
		Logger:    s.log.With("client", req.ID),
		Tracer:    s.opts.Tracer,
	})
	if err != nil {
		fail(w, http.StatusBadRequest, KindBadRequest, fmt.Errorf("init: %w", err))
		return
	}
	s.mu.Lock()
	s.clients[req.ID] = c
	s.mu.Unlock()
	s.log.Info("client ready", "id", req.ID, "config", req.Initial.String(), "pb", req.PB, "gc", req.GC, "thrifty", req.Thrifty, "bug", req.Bug)
	reply(w, struct{}{})
}

// renew swaps a client for a fresh one in this agent process: a new
// process of the history, not a new container.
func (s *Server) renew(w http.ResponseWriter, r *http.Request) {
	var req RenewRequest
	if !decode(w, r, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clients[req.Client]
	if c == nil {
		fail(w, http.StatusConflict, KindNotReady, fmt.Errorf("agent has no client %q (POST /v1/init first)", req.Client))
		return
	}
	n, err := c.Renew()
	if err != nil {
		fail(w, http.StatusInternalServerError, KindOther, fmt.Errorf("renew: %w", err))
		return
	}
	s.clients[req.Client] = n
	s.log.Info("client renewed", "id", req.Client, "old", c.WriterID(), "new", n.WriterID())
	reply(w, struct{}{})
}

// setDrop replaces the transport's message loss.
func (s *Server) setDrop(w http.ResponseWriter, r *http.Request) {
	var req DropRequest
	if !decode(w, r, &req) {
		return
	}
	for server, p := range req.Drops {
		if p < 0 || p > 1 {
			fail(w, http.StatusBadRequest, KindBadRequest, fmt.Errorf("drop %s: probability %v not in [0,1]", server, p))
			return
		}
	}
	s.drop.Heal()
	for server, p := range req.Drops {
		_ = s.drop.SetDrop(server, p) // checked above
	}
	s.log.Info("message drop set", "drops", req.Drops)
	reply(w, struct{}{})
}

func (s *Server) read(w http.ResponseWriter, r *http.Request) {
	var req KeyRequest
	c, ctx, cancel, ok := s.begin(w, r, &req, &req.Client)
	if !ok {
		return
	}
	defer cancel()
	v, info, err := c.ReadInfo(ctx, req.Key)
	if err != nil {
		s.opError(w, "read", req.Key, err)
		return
	}
	reply(w, ValueResponse{Value: v, Info: infoOf(info)})
}

func (s *Server) write(w http.ResponseWriter, r *http.Request) {
	var req WriteRequest
	c, ctx, cancel, ok := s.begin(w, r, &req, &req.Client)
	if !ok {
		return
	}
	defer cancel()
	info, err := c.WriteInfo(ctx, req.Key, req.Value)
	if err != nil {
		s.opError(w, "write", req.Key, err)
		return
	}
	reply(w, WriteResponse{Info: infoOf(info)})
}

func (s *Server) reconfig(w http.ResponseWriter, r *http.Request) {
	var req ReconfigRequest
	c, ctx, cancel, ok := s.begin(w, r, &req, &req.Client)
	if !ok {
		return
	}
	defer cancel()
	if req.Target == nil {
		fail(w, http.StatusBadRequest, KindBadRequest, errors.New("reconfig: no target"))
		return
	}
	cfg, err := c.Reconfig(ctx, req.Target)
	if err != nil {
		s.opError(w, "reconfig", "", err)
		return
	}
	reply(w, ReconfigResponse{Config: cfg})
}

// begin decodes the request and returns the client and the operation's
// context: the request's own (cancelled when the controller hangs up) bounded
// by the controller's remaining deadline.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, req any, id *string) (*ares.Client, context.Context, context.CancelFunc, bool) {
	if !decode(w, r, req) {
		return nil, nil, nil, false
	}
	s.mu.Lock()
	c := s.clients[*id]
	s.mu.Unlock()
	if c == nil {
		fail(w, http.StatusConflict, KindNotReady, fmt.Errorf("agent has no client %q (POST /v1/init first)", *id))
		return nil, nil, nil, false
	}
	ctx, cancel := r.Context(), context.CancelFunc(func() {})
	if ms, err := strconv.ParseInt(r.Header.Get(TimeoutHeader), 10, 64); err == nil && ms > 0 {
		ctx, cancel = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
	}
	return c, ctx, cancel, true
}

func (s *Server) opError(w http.ResponseWriter, op, key string, err error) {
	kind, status := classify(err)
	s.log.Debug("operation failed", "op", op, "key", key, "kind", kind, "err", err)
	fail(w, status, kind, err)
}

// classify maps an operation's error to its kind and HTTP status.
func classify(err error) (string, int) {
	switch {
	case errors.Is(err, ares.ErrUnavailable):
		return KindUnavailable, http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return KindDeadline, http.StatusGatewayTimeout
	case errors.Is(err, context.Canceled):
		return KindCanceled, 499 // nginx's "client closed request"
	}
	return KindOther, http.StatusInternalServerError
}

// maxBody bounds a request body; large-object workloads stay far below it.
const maxBody = 64 << 20

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err == nil && len(body) > maxBody {
		err = fmt.Errorf("body larger than %d bytes", maxBody)
	}
	if err == nil {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		fail(w, http.StatusBadRequest, KindBadRequest, fmt.Errorf("decode request: %w", err))
		return false
	}
	return true
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, kind string, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(ErrorResponse{Kind: kind, Message: err.Error()})
}
