// Package sim is the deterministic simulation backend: the real ares.Server
// and ares.Client in one process, over a simulated network and disk whose
// every choice (which message is delivered next, its delay, loss and
// duplication, crashes and power losses) comes from one seed, in simulated
// time. The same seed and binary give the same history, byte for byte.
package sim

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/deadline"
)

// Delays of the simulated network: most messages take tens to hundreds of
// microseconds, some a few milliseconds and a few tens of milliseconds, so
// that messages overtake one another.
var (
	minDelay = time.Microsecond
	// A lost packet is retransmitted after an RTO (loss fault).
	retransmit = 200 * time.Millisecond
)

// ErrDown is what a call gets from a server that is not running: the
// connection is refused, as on the other backends (the refusal comes back
// after a network delay).
var ErrDown = errors.New("sim: connection refused")

type pair struct{ client, server string }

type link struct {
	cut        bool
	loss, drop float64
	latency    time.Duration
}

type endpoint struct {
	h      ares.Handler
	up     bool
	paused bool
	incarn int // bumped by each crash: replies of an older incarnation are lost
}

// Stats count what the scheduler did; Hash folds every delivery decision
// (message key and time) so that two runs of a seed can be compared step
// by step.
type Stats struct {
	Steps, Delivered, Dropped, Duplicated int64
	Hash                                  uint64
}

// Network is the simulated network and its scheduler. Only the scheduler
// goroutine (Run) delivers; every other goroutine only enqueues.
type Network struct {
	mu      sync.Mutex
	rng     *rand.Rand // scheduler decisions only, drawn in key order
	fresh   []*message // sent since the last step, fate not yet drawn
	q       queue
	held    []*message // addressed to or from a paused server
	seq     map[pair]uint64
	eps     map[string]*endpoint
	links   map[pair]*link
	steer   *steering
	crash   map[string]*crashPlan // clients to crash at a send of theirs
	wake    chan struct{}
	stopped bool
	stats   Stats
	hash    interface {
		Write([]byte) (int, error)
		Sum64() uint64
	}
}

// NewNetwork returns a network whose choices come from seed. It must be
// made inside the bubble it runs in.
func NewNetwork(seed uint64) *Network {
	return &Network{
		rng:   rand.New(rand.NewPCG(seed, 0x73696d6e6574)),
		seq:   map[pair]uint64{},
		eps:   map[string]*endpoint{},
		links: map[pair]*link{},
		crash: map[string]*crashPlan{},
		wake:  make(chan struct{}, 1),
		hash:  fnv.New64a(),
	}
}

// AddServer attaches a running server.
func (n *Network) AddServer(id string, h ares.Handler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.eps[id] = &endpoint{h: h, up: true}
}

// Crash stops a server: what it has not answered is lost, and so are its
// replies still in flight.
func (n *Network) Crash(id string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	ep, ok := n.eps[id]
	if !ok {
		return fmt.Errorf("sim: no server %q", id)
	}
	ep.up, ep.paused = false, false
	ep.incarn++
	n.releaseLocked(id)
	n.signal() // the scheduler may be parked on an empty queue
	return nil
}

// Restart brings a crashed server back with a new handler.
func (n *Network) Restart(id string, h ares.Handler) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	ep, ok := n.eps[id]
	if !ok {
		return fmt.Errorf("sim: no server %q", id)
	}
	ep.h, ep.up = h, true
	return nil
}

// Up reports whether a server runs (paused or not).
func (n *Network) Up(id string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	ep := n.eps[id]
	return ep != nil && ep.up
}

// SetPaused holds every message to and from a server while it is paused,
// as SIGSTOP does; resuming lets them go on.
func (n *Network) SetPaused(id string, paused bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	ep, ok := n.eps[id]
	if !ok {
		return fmt.Errorf("sim: no server %q", id)
	}
	ep.paused = paused
	if !paused {
		n.releaseLocked(id)
	}
	n.signal()
	return nil
}

// releaseLocked requeues the messages held for a server that resumed or
// crashed (a crashed server's are then dropped at delivery).
func (n *Network) releaseLocked(id string) {
	kept := n.held[:0]
	for _, m := range n.held {
		if m.p.server == id {
			heap.Push(&n.q, m)
		} else {
			kept = append(kept, m)
		}
	}
	n.held = kept
}

func (n *Network) link(p pair) *link {
	l := n.links[p]
	if l == nil {
		l = &link{}
		n.links[p] = l
	}
	return l
}

// update changes the links between clients and servers under one lock.
func (n *Network) update(pairs []pair, f func(*link)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range pairs {
		f(n.link(p))
	}
}

// HealLinks removes every link fault.
func (n *Network) HealLinks() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.links = map[pair]*link{}
}

// Stats returns the scheduler's counters.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.stats
	s.Hash = n.hash.Sum64()
	return s
}

func (n *Network) signal() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Transport returns client's end of the network.
func (n *Network) Transport(client string) ares.Transport { return &transport{n: n, client: client} }

type transport struct {
	n      *Network
	client string
}

// Call implements ares.Transport: the request waits in the network until
// the scheduler delivers it, and the caller until its reply is delivered.
func (t *transport) Call(ctx context.Context, to ares.Node, req *ares.Request) (*ares.Response, error) {
	n := t.n
	// A request sent at the instant its context ends would or would not
	// get out depending on which goroutine the runtime woke first.
	if err := deadline.Err(ctx); err != nil {
		return nil, err
	}
	c := &call{done: make(chan result, 1)}
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return nil, errors.New("sim: network stopped")
	}
	p := pair{t.client, to.ID}
	n.seq[p]++
	n.fresh = append(n.fresh, &message{p: p, seq: n.seq[p], req: req, call: c, span: trace.SpanContextFromContext(ctx)})
	n.signal()
	n.mu.Unlock()
	select {
	case r := <-c.done:
		return r.resp, r.err
	case <-ctx.Done():
		n.mu.Lock()
		c.gone = true
		n.mu.Unlock()
		return nil, ctx.Err()
	}
}

// Stop ends Run; later calls fail at once.
func (n *Network) Stop() {
	n.mu.Lock()
	n.stopped = true
	for _, ms := range [][]*message{n.fresh, n.q, n.held} {
		for _, m := range ms {
			if !m.call.gone {
				select {
				case m.call.done <- result{err: errors.New("sim: network stopped")}:
				default:
				}
				m.call.gone = true
			}
		}
	}
	n.fresh, n.q, n.held = nil, nil, nil
	n.mu.Unlock()
	n.signal()
}

// Run is the scheduler. It must run in its own goroutine of the bubble:
// each turn it waits until every other goroutine is blocked, draws the
// fate of what was sent meanwhile, in key order, and delivers the one
// message due first, so that one thing happens at a time.
func (n *Network) Run() {
	for {
		synctest.Wait()
		n.mu.Lock()
		if n.stopped {
			n.mu.Unlock()
			return
		}
		n.admitLocked()
		if len(n.q) == 0 {
			n.mu.Unlock()
			<-n.wake
			continue
		}
		m := n.q[0]
		if d := time.Until(m.at); d > 0 {
			n.mu.Unlock()
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-n.wake:
				t.Stop()
			}
			continue
		}
		heap.Pop(&n.q)
		n.deliverLocked(m)
		n.mu.Unlock()
	}
}

// admitLocked draws each fresh message's fate: lost, duplicated, and when
// it arrives. Messages are taken in key order so that the draws are the
// same in every replay.
func (n *Network) admitLocked() {
	if len(n.fresh) == 0 {
		return
	}
	slices.SortFunc(n.fresh, keyCmp)
	now := time.Now()
	if n.steer != nil {
		n.steer.plan(n, n.fresh)
	}
	var crashing map[string]int // requests still let out of a crashing client
	for _, m := range n.fresh {
		if plan := n.crash[m.p.client]; plan != nil && !m.reply && (plan.at == ares.OpInvalid || plan.at == m.req.Op) {
			if crashing == nil {
				crashing = map[string]int{}
			}
			left, ok := crashing[m.p.client]
			if !ok {
				// The client dies while sending: none of this step's
				// requests get out (between two phases) a third of the
				// time, else a minority of them, which leaves a write on
				// too few servers for the next quorum to be sure to see.
				count := 0
				for _, o := range n.fresh {
					if o.p.client == m.p.client && !o.reply && o.req.Op == m.req.Op {
						count++
					}
				}
				if n.rng.IntN(3) > 0 && count > 1 {
					left = 1 + n.rng.IntN(count/2)
				}
			}
			crashing[m.p.client] = left - 1
			if left <= 0 {
				n.stats.Dropped++
				continue
			}
		}
		l := n.links[m.p]
		if l != nil && l.drop > 0 && n.rng.Float64() < l.drop {
			n.stats.Dropped++
			continue
		}
		d := n.delay()
		if n.steer != nil {
			d += n.steer.hold(m)
		}
		if l != nil {
			d += l.latency
			if l.loss > 0 {
				for n.rng.Float64() < l.loss && d < 10*retransmit {
					d += retransmit
				}
				if !m.reply && n.rng.Float64() < l.loss/2 {
					// The retransmission races the original: the server
					// gets the request twice.
					dup := *m
					dup.copy = 1
					dup.at = now.Add(d + n.delay())
					heap.Push(&n.q, &dup)
					n.stats.Duplicated++
				}
			}
		}
		m.at = now.Add(d)
		heap.Push(&n.q, m)
	}
	n.fresh = n.fresh[:0]
	for _, c := range slices.Sorted(maps.Keys(crashing)) {
		plan := n.crash[c]
		delete(n.crash, c)
		plan.crash()
	}
}

// crashPlan is a client crash waiting for its moment: the client's next
// send of a request of kind at (any kind: OpInvalid).
type crashPlan struct {
	at    ares.Op
	crash func()
}

// CrashAtSend crashes client at a send of its own: half the time its next
// one, half the time its next put-data, the phase that leaves a write on
// some servers and not others. The scheduler lets a random prefix (maybe
// none) of that step's requests out, then calls crash.
func (n *Network) CrashAtSend(client string, crash func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := &crashPlan{crash: crash}
	if n.rng.IntN(2) == 0 {
		p.at = ares.OpPutData
	}
	n.crash[client] = p
}

func (n *Network) delay() time.Duration {
	var d time.Duration
	switch x := n.rng.IntN(100); {
	case x < 70:
		d = 20*time.Microsecond + time.Duration(n.rng.Int64N(int64(280*time.Microsecond)))
	case x < 95:
		d = 300*time.Microsecond + time.Duration(n.rng.Int64N(int64(3*time.Millisecond)))
	default:
		d = 3*time.Millisecond + time.Duration(n.rng.Int64N(int64(30*time.Millisecond)))
	}
	return max(d, minDelay)
}

// deliverLocked hands a request to its server (the handler runs with
// n.mu released and is done before the next step) or a reply to its
// caller.
func (n *Network) deliverLocked(m *message) {
	ep := n.eps[m.p.server]
	if ep != nil && ep.up && ep.paused {
		n.held = append(n.held, m)
		return
	}
	n.stats.Steps++
	n.hashLocked(m)
	l := n.links[m.p]
	if l != nil && l.cut {
		n.stats.Dropped++
		return
	}
	if !m.reply {
		if ep == nil || !ep.up {
			n.stats.Dropped++
			if !m.call.gone && m.copy == 0 {
				// A refused connection fails fast, as on the other backends.
				n.fresh = append(n.fresh, &message{p: m.p, seq: m.seq, reply: true, res: result{err: ErrDown}, call: m.call, incarn: -1})
			}
			return
		}
		n.stats.Delivered++
		// The handler runs on the scheduler's own goroutine, outside the
		// lock: a server never blocks for long (its disk is memory), and a
		// goroutine per request was a tenth of a run's CPU.
		h, incarn := ep.h, ep.incarn
		n.mu.Unlock()
		resp, err := h.Handle(trace.ContextWithSpanContext(context.Background(), m.span), m.req)
		n.mu.Lock()
		n.fresh = append(n.fresh, &message{p: m.p, seq: m.seq, reply: true, copy: m.copy, res: result{resp, err}, call: m.call, incarn: incarn})
		return
	}
	if m.incarn >= 0 && (ep == nil || ep.incarn != m.incarn) {
		n.stats.Dropped++ // the server crashed after it answered
		return
	}
	if m.call.gone {
		return
	}
	n.stats.Delivered++
	select {
	case m.call.done <- m.res:
	default:
	}
}
