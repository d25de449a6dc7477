package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/nemesis"
)

// Client is the controller's side of one ARES client held by an agent. It
// implements harness.Client; errors keep their identity (ares.ErrUnavailable,
// context.DeadlineExceeded, context.Canceled) across the wire.
type Client struct {
	base string
	id   string
	http *http.Client

	mu   sync.Mutex
	init *InitRequest // the last Init, for Renew on an agent without /v1/renew
}

// ClientOption configures a Client.
type ClientOption func(*clientOptions)

type clientOptions struct {
	tls *tls.Config
}

// WithTLS makes the client speak HTTPS with cfg: with package pki's
// ClientConfig, the controller presents the run's certificate and trusts
// only agents the run's CA signed (agents' certificates name
// "torture-agent": their control address is not known when it is issued).
func WithTLS(cfg *tls.Config) ClientOption {
	return func(o *clientOptions) { o.tls = cfg }
}

// NewClient returns a handle on the client id of the agent at addr
// (host:port); Init creates that client in the agent.
func NewClient(addr, id string, opts ...ClientOption) *Client {
	var o clientOptions
	for _, opt := range opts {
		opt(&o)
	}
	scheme := "http://"
	tr := &http.Transport{
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	if o.tls != nil {
		scheme = "https://"
		tr.TLSClientConfig = o.tls
		// Zero would be no bound: a handshake with a stuck agent would
		// last as long as the request's context (http.DefaultTransport's
		// bound). HTTP/2 stays off, as over plaintext.
		tr.TLSHandshakeTimeout = 10 * time.Second
	}
	return &Client{
		base: scheme + addr,
		id:   id,
		http: &http.Client{Transport: tr},
	}
}

// Health reports whether the agent answers.
func (c *Client) Health(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/health", nil)
	if err != nil {
		return fmt.Errorf("agent health: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("agent health: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("agent health: status %s", resp.Status)
	}
	return nil
}

// Init (re)creates the agent's ARES client; req.ID is set to the handle's id.
func (c *Client) Init(ctx context.Context, req InitRequest) error {
	req.ID = c.id
	if err := c.call(ctx, "init", req, nil); err != nil {
		return err
	}
	c.mu.Lock()
	c.init = &req
	c.mu.Unlock()
	return nil
}

// Renew replaces the agent's ARES client by a fresh one (a new writer
// id) in the same agent process. An agent without /v1/renew gets its
// client created again by the last Init.
func (c *Client) Renew(ctx context.Context) error {
	err := c.call(ctx, "renew", RenewRequest{Client: c.id}, nil)
	var se *statusError
	if !errors.As(err, &se) || se.code != http.StatusNotFound {
		return err
	}
	c.mu.Lock()
	init := c.init
	c.mu.Unlock()
	if init == nil {
		return fmt.Errorf("agent renew: no /v1/renew and no Init to repeat: %w", err)
	}
	return c.call(ctx, "init", *init, nil)
}

// Read returns the value of key (nil for the initial value) and what the
// read learned (zero from an agent that does not report it).
func (c *Client) Read(ctx context.Context, key string) ([]byte, ares.OpInfo, error) {
	var resp ValueResponse
	if err := c.call(ctx, "read", KeyRequest{Client: c.id, Key: key}, &resp); err != nil {
		return nil, ares.OpInfo{}, err
	}
	return resp.Value, resp.Info.OpInfo(), nil
}

// Write stores value under key and reports what the write learned.
func (c *Client) Write(ctx context.Context, key string, value []byte) (ares.OpInfo, error) {
	var resp WriteResponse
	if err := c.call(ctx, "write", WriteRequest{Client: c.id, Key: key, Value: value}, &resp); err != nil {
		return ares.OpInfo{}, err
	}
	return resp.Info.OpInfo(), nil
}

// Reconfig asks the agent's client to move the system to target.
func (c *Client) Reconfig(ctx context.Context, target *ares.Config) (*ares.Config, error) {
	var resp ReconfigResponse
	if err := c.call(ctx, "reconfig", ReconfigRequest{Client: c.id, Target: target}, &resp); err != nil {
		return nil, err
	}
	if resp.Config == nil {
		return nil, errors.New("agent reconfig: empty reply")
	}
	return resp.Config, nil
}

// SetDrop replaces the message loss of the agent's transport (every client
// of the agent shares it): drops maps server ids to probabilities, empty
// heals. An agent without /v1/drop gets an error wrapping
// nemesis.ErrUnsupported.
func (c *Client) SetDrop(ctx context.Context, drops map[string]float64) error {
	if drops == nil {
		drops = map[string]float64{}
	}
	err := c.call(ctx, "drop", DropRequest{Drops: drops}, nil)
	var se *statusError
	if errors.As(err, &se) && se.code == http.StatusNotFound {
		return fmt.Errorf("agent has no /v1/drop: %w: %w", nemesis.ErrUnsupported, err)
	}
	return err
}

// Close releases the client's idle connections; the agent keeps running
// until its container is removed.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// RemoteError is an error the agent reported.
type RemoteError struct {
	Kind    string
	Message string
}

func (e *RemoteError) Error() string { return "agent: " + e.Message }

// Unwrap lets errors.Is see the kind as the error it stands for.
func (e *RemoteError) Unwrap() error {
	switch e.Kind {
	case KindUnavailable:
		return ares.ErrUnavailable
	case KindDeadline:
		return context.DeadlineExceeded
	case KindCanceled:
		return context.Canceled
	}
	return nil
}

// statusError is a failed reply that is not the agent's ErrorResponse
// (a route an older agent does not have: 404).
type statusError struct {
	code   int
	status string
	body   []byte
}

func (e *statusError) Error() string { return fmt.Sprintf("status %s: %.200s", e.status, e.body) }

func (c *Client) call(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("agent %s: %w", op, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/"+op, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("agent %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if dl, ok := ctx.Deadline(); ok {
		ms := time.Until(dl).Milliseconds()
		if ms < 1 {
			ms = 1
		}
		req.Header.Set(TimeoutHeader, strconv.FormatInt(ms, 10))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// The controller's own deadline or cancel shows up here wrapped
		// in a *url.Error, which errors.Is sees through.
		return fmt.Errorf("agent %s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("agent %s: read reply: %w", op, err)
	}
	if resp.StatusCode/100 != 2 {
		var e ErrorResponse
		if json.Unmarshal(data, &e) != nil || e.Kind == "" {
			return fmt.Errorf("agent %s: %w", op, &statusError{code: resp.StatusCode, status: resp.Status, body: data})
		}
		return fmt.Errorf("%s: %w", op, &RemoteError{Kind: e.Kind, Message: e.Message})
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("agent %s: decode reply: %w", op, err)
		}
	}
	return nil
}
