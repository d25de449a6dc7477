package harness

import (
	"context"
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
	return cl.ac.Load().ReadInfo(ctx, key)
}

// Write implements Client.
func (cl *InProcessClient) Write(ctx context.Context, key string, value []byte) (ares.OpInfo, error) {
	return cl.ac.Load().WriteInfo(ctx, key, value)
}

// Reconfig implements Client.
func (cl *InProcessClient) Reconfig(ctx context.Context, target *ares.Config) (*ares.Config, error) {
	return cl.ac.Load().Reconfig(ctx, target)
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
