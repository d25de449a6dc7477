package ares

import (
	"context"
	"errors"
)

// Client is a reader, writer and reconfigurer of ARES objects. Its methods
// may be called from several goroutines, at most one operation per key at a
// time.
type Client struct{ opts ClientOptions }

// NewClient checks the options and returns a client that starts from the
// initial configuration.
func NewClient(opts ClientOptions) (*Client, error) { return &Client{opts: opts}, nil }

// Write stores value under key.
func (c *Client) Write(ctx context.Context, key string, value []byte) error {
	return errors.New("not implemented")
}

// Read returns the value of key (nil for the initial value).
func (c *Client) Read(ctx context.Context, key string) ([]byte, error) {
	return nil, errors.New("not implemented")
}

// Reconfig moves the system to a configuration with target's servers and
// DAP (target.ID is ignored) and returns it as installed, with its index.
func (c *Client) Reconfig(ctx context.Context, target *Config) (*Config, error) {
	return nil, errors.New("not implemented")
}

// Configs runs read-config and returns the sequence as this client knows it.
func (c *Client) Configs(ctx context.Context) ([]SeqEntry, error) {
	return nil, errors.New("not implemented")
}

// Server is the message handler of one storage server.
type Server struct{}

// NewServer loads the server's state from st.
func NewServer(st Storage, opts ServerOptions) (*Server, error) { return &Server{}, nil }

// Handle answers one request.
func (s *Server) Handle(ctx context.Context, req *Request) (*Response, error) {
	return nil, errors.New("not implemented")
}

// ErrUnavailable is wrapped by errors returned when no quorum answered.
var ErrUnavailable = errors.New("quorum unavailable")
