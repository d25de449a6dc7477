package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/ares-torture/torture/ares"
)

// DropTransport is an ares.Transport that loses RPC messages: the backends'
// implementation of Cluster.SetDrop, wrapped around one client's transport
// where the client sends. With probability p (per server) a request is not
// sent, and with p again a reply is thrown away; either way the call waits
// for its context, as a call whose datagram or connection was lost does,
// so the client's retry timer or the operation's deadline decides what
// happens next. The zero probability passes every call through untouched.
type DropTransport struct {
	next ares.Transport

	mu  sync.Mutex
	rng *rand.Rand         // guarded by mu: a Rand is not safe for concurrent use
	p   map[string]float64 // by server id
}

// NewDropTransport wraps next. src is the randomness behind each loss; nil
// draws from the process's random source (tests pass a seeded one).
func NewDropTransport(next ares.Transport, src rand.Source) *DropTransport {
	if src == nil {
		src = rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	return &DropTransport{next: next, rng: rand.New(src), p: map[string]float64{}}
}

// SetDrop sets the probability of losing each message to and from the
// server with id server (0 removes it).
func (d *DropTransport) SetDrop(server string, p float64) error {
	if p < 0 || p > 1 {
		return fmt.Errorf("drop probability %v: want 0..1", p)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if p == 0 {
		delete(d.p, server)
	} else {
		d.p[server] = p
	}
	return nil
}

// Drops returns the probabilities set, by server id.
func (d *DropTransport) Drops() map[string]float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]float64, len(d.p))
	for s, p := range d.p {
		out[s] = p
	}
	return out
}

// Heal removes every drop. Calls whose message was already lost still
// wait for their context: a heal does not bring a lost message back.
func (d *DropTransport) Heal() {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.p)
}

// lose draws whether the next message to or from server is lost.
func (d *DropTransport) lose(server string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.p[server]
	return p > 0 && d.rng.Float64() < p
}

// Call implements ares.Transport.
func (d *DropTransport) Call(ctx context.Context, to ares.Node, req *ares.Request) (*ares.Response, error) {
	if d.lose(to.ID) {
		<-ctx.Done()
		return nil, fmt.Errorf("request to %s dropped: %w", to.ID, ctx.Err())
	}
	resp, err := d.next.Call(ctx, to, req)
	if err == nil && d.lose(to.ID) {
		// The server acted on the request; only its answer is gone.
		<-ctx.Done()
		return nil, fmt.Errorf("reply from %s dropped: %w", to.ID, ctx.Err())
	}
	return resp, err
}
