// Package memnet is an in-memory network for testing ARES: clients and
// servers exchange messages through it, and it can drop, delay, duplicate
// and reorder them, cut links, and crash and restart servers.
package memnet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ares-torture/torture/ares"
)

// Faults are the network's misbehaviours, applied to every message.
type Faults struct {
	Drop     float64       // probability that a message is lost
	Dup      float64       // probability that a message is delivered twice
	MaxDelay time.Duration // each delivery waits a random time up to this (reorders)
}

// Network connects in-memory clients and servers.
type Network struct {
	mu      sync.Mutex
	rng     *rand.Rand
	faults  Faults
	servers map[string]*server
	cut     map[[2]string]bool // (client, server)
	delay   map[[2]string]time.Duration

	// Stale counts replies that arrived for no pending request (duplicates,
	// or replies after the caller gave up) and were discarded.
	Stale atomic.Int64
	// Delivered counts requests handed to a server.
	Delivered atomic.Int64
}

type server struct {
	h    ares.Handler
	up   bool
	incr int // incarnation, so a crashed incarnation's late work is ignored
}

// New returns a network whose random choices come from seed.
func New(seed uint64) *Network {
	return &Network{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), servers: map[string]*server{}, cut: map[[2]string]bool{}, delay: map[[2]string]time.Duration{}}
}

// SetFaults changes the faults applied to later messages.
func (n *Network) SetFaults(f Faults) {
	n.mu.Lock()
	n.faults = f
	n.mu.Unlock()
}

// AddServer attaches a server's handler under id, up.
func (n *Network) AddServer(id string, h ares.Handler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.servers[id] = &server{h: h, up: true}
}

// Crash stops delivering to and from server id until Restart.
func (n *Network) Crash(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s := n.servers[id]; s != nil {
		s.up = false
		s.incr++
	}
}

// Restart brings server id back with a new handler (built on the crashed
// incarnation's durable storage).
func (n *Network) Restart(id string, h ares.Handler) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.servers[id]
	if s == nil {
		return fmt.Errorf("restart %s: no such server", id)
	}
	s.h, s.up = h, true
	s.incr++
	return nil
}

// Cut drops every message between client and server until Heal.
func (n *Network) Cut(client, server string) {
	n.mu.Lock()
	n.cut[[2]string{client, server}] = true
	n.mu.Unlock()
}

// SetDelay adds a fixed delay to every message between client and server,
// on top of the random one: slow links make a write reach servers far
// apart in time, which is where weak protocols show.
func (n *Network) SetDelay(client, server string, d time.Duration) {
	n.mu.Lock()
	n.delay[[2]string{client, server}] = d
	n.mu.Unlock()
}

// Heal restores every cut link.
func (n *Network) Heal() {
	n.mu.Lock()
	n.cut = map[[2]string]bool{}
	n.mu.Unlock()
}

// fate decides a message's deliveries: how many copies (0, 1 or 2) and
// after which delays.
func (n *Network) fate(client, srv string) []time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cut[[2]string{client, srv}] || n.rng.Float64() < n.faults.Drop {
		return nil
	}
	copies := 1
	if n.rng.Float64() < n.faults.Dup {
		copies = 2
	}
	out := make([]time.Duration, copies)
	for i := range out {
		out[i] = n.delay[[2]string{client, srv}]
		if n.faults.MaxDelay > 0 {
			out[i] += time.Duration(n.rng.Int64N(int64(n.faults.MaxDelay)))
		}
	}
	return out
}

// Client returns the transport of a client named name. Replies are matched
// to pending requests by id; others are discarded.
func (n *Network) Client(name string) ares.Transport {
	return &endpoint{net: n, name: name, pending: map[uint64]chan result{}}
}

type endpoint struct {
	net  *Network
	name string

	mu      sync.Mutex
	pending map[uint64]chan result
}

// result is a server's answer: a reply, or a refusal (ares.RefusedError).
type result struct {
	resp *ares.Response
	err  error
}

// Call implements ares.Transport.
func (e *endpoint) Call(ctx context.Context, to ares.Node, req *ares.Request) (*ares.Response, error) {
	ch := make(chan result, 1)
	e.mu.Lock()
	if _, dup := e.pending[req.ID]; dup {
		e.mu.Unlock()
		return nil, fmt.Errorf("request id %d already pending", req.ID)
	}
	e.pending[req.ID] = ch
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.pending, req.ID)
		e.mu.Unlock()
	}()
	for _, d := range e.net.fate(e.name, to.ID) {
		go e.deliver(to.ID, req, d)
	}
	select {
	case r := <-ch:
		return r.resp, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (e *endpoint) deliver(to string, req *ares.Request, delay time.Duration) {
	time.Sleep(delay)
	n := e.net
	n.mu.Lock()
	s := n.servers[to]
	if s == nil || !s.up || n.cut[[2]string{e.name, to}] {
		n.mu.Unlock()
		return
	}
	h, incr := s.h, s.incr
	n.mu.Unlock()
	n.Delivered.Add(1)
	resp, err := h.Handle(context.Background(), req)
	// A refusal reaches the client, as gRPC's InvalidArgument does, so
	// that it stops resending; any other failure is as good as lost.
	if ares.IsRefused(err) {
		resp = &ares.Response{ID: req.ID}
	} else if err != nil || resp == nil {
		return
	}
	res := result{resp: resp}
	if err != nil {
		res = result{err: err}
	}
	n.mu.Lock()
	alive := s.up && s.incr == incr
	n.mu.Unlock()
	if !alive {
		return
	}
	for _, d := range n.fate(e.name, to) {
		go func(d time.Duration) {
			time.Sleep(d)
			e.mu.Lock()
			ch := e.pending[resp.ID]
			e.mu.Unlock()
			if ch == nil {
				n.Stale.Add(1)
				return
			}
			select {
			case ch <- res:
			default:
				n.Stale.Add(1) // a duplicate of a reply already waiting
			}
		}(d)
	}
}

// Fence wraps a server's storage so that a crashed incarnation, whose
// handlers may still be running, can no longer write: kill models the
// process dying. What was applied before kill stays, as on a disk.
func Fence(st ares.Storage) (ares.Storage, func()) {
	f := &fenced{Storage: st}
	f.alive.Store(true)
	return f, func() { f.alive.Store(false) }
}

type fenced struct {
	ares.Storage
	alive atomic.Bool
}

func (f *fenced) Apply(puts map[string][]byte, dels []string) error {
	if !f.alive.Load() {
		return errDead
	}
	return f.Storage.Apply(puts, dels)
}

var errDead = fmt.Errorf("storage of a crashed server")
