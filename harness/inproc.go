package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/ares-torture/torture/ares"
)

// InProcessClient is a Client that runs an ares.Client in this process
// (the local and sim backends). Renew swaps the ARES client; the
// transport, and so the client's links, stay.
type InProcessClient struct {
	ac     atomic.Pointer[ares.Client]
	closer io.Closer
	once   sync.Once

	mu       sync.Mutex
	inflight map[*context.CancelCauseFunc]struct{}
}

// ErrCrashed is wrapped by the error of an operation cut short by a crash
// of its client (the crash fault): its outcome is unknown, and the process
// that ran it is gone.
var ErrCrashed = errors.New("client crashed")

// Crash crashes the client now: every operation in flight stops where it
// is, between or in the middle of its phases, and fails with ErrCrashed.
func (cl *InProcessClient) Crash() {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for c := range cl.inflight {
		(*c)(ErrCrashed)
	}
}

// crashable runs op under a context that Crash can cut.
func crashable[T any](cl *InProcessClient, ctx context.Context, op func(context.Context, *ares.Client) (T, error)) (T, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	cl.mu.Lock()
	if cl.inflight == nil {
		cl.inflight = map[*context.CancelCauseFunc]struct{}{}
	}
	cl.inflight[&cancel] = struct{}{}
	cl.mu.Unlock()
	v, err := op(ctx, cl.ac.Load())
	cl.mu.Lock()
	delete(cl.inflight, &cancel)
	cl.mu.Unlock()
	if err != nil && errors.Is(context.Cause(ctx), ErrCrashed) {
		err = fmt.Errorf("%w: %v", ErrCrashed, err)
	}
	cancel(nil)
	return v, err
}

type readResult struct {
	val  []byte
	info ares.OpInfo
}

// NewInProcessClient wraps ac; Close closes closer (may be nil).
func NewInProcessClient(ac *ares.Client, closer io.Closer) *InProcessClient {
	cl := &InProcessClient{closer: closer}
	cl.ac.Store(ac)
	return cl
}

// ARES returns the current ARES client.
func (cl *InProcessClient) ARES() *ares.Client { return cl.ac.Load() }

// Read implements Client.
func (cl *InProcessClient) Read(ctx context.Context, key string) ([]byte, ares.OpInfo, error) {
	r, err := crashable(cl, ctx, func(ctx context.Context, ac *ares.Client) (readResult, error) {
		v, info, err := ac.ReadInfo(ctx, key)
		return readResult{v, info}, err
	})
	return r.val, r.info, err
}

// Write implements Client.
func (cl *InProcessClient) Write(ctx context.Context, key string, value []byte) (ares.OpInfo, error) {
	return crashable(cl, ctx, func(ctx context.Context, ac *ares.Client) (ares.OpInfo, error) {
		return ac.WriteInfo(ctx, key, value)
	})
}

// CoverWrite implements Client.
func (cl *InProcessClient) CoverWrite(ctx context.Context, key string, base ares.Tag, value []byte) (ares.CoverResult, error) {
	return crashable(cl, ctx, func(ctx context.Context, ac *ares.Client) (ares.CoverResult, error) {
		return ac.CoverWrite(ctx, key, base, value)
	})
}

// Reconfig implements Client.
func (cl *InProcessClient) Reconfig(ctx context.Context, target *ares.Config) (*ares.Config, error) {
	return crashable(cl, ctx, func(ctx context.Context, ac *ares.Client) (*ares.Config, error) {
		return ac.Reconfig(ctx, target)
	})
}

// Renew implements Client: a fresh ARES client (new writer id) that
// starts from the configurations the old one knew.
func (cl *InProcessClient) Renew(ctx context.Context) error {
	old := cl.ac.Load()
	ac, err := old.Renew()
	if err != nil {
		return fmt.Errorf("renew client %s: %w", old.WriterID(), err)
	}
	cl.ac.Store(ac)
	return nil
}

// Close closes the client's transport.
func (cl *InProcessClient) Close() error {
	var err error
	cl.once.Do(func() {
		if cl.closer != nil {
			err = cl.closer.Close()
		}
	})
	return err
}
