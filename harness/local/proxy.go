package local

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// How the links model faults (one proxy per client-server link, both
// directions). Each link is a TCP relay of its own: per connection, one
// goroutine per direction reads a chunk and writes it on at once while the
// link is healthy; with a fault set, chunks go through a queue to a second
// goroutine that applies the fault, in order. It replaced an in-process
// toxiproxy, whose chain of goroutines and unbuffered channels (three
// hand-offs, an allocation and a copy per chunk, on every link, faulted or
// not) cost the clients most of the 18% that recording and proxies took of
// their throughput (issue 14). The faults act as toxiproxy's did:
//
//   - Cut is a black hole: every byte is dropped, on live connections and
//     on new ones, the way a real partition drops packets (calls hang until
//     their deadline instead of failing fast; connections are still
//     accepted). Refusing connections was the other choice; it is a
//     friendlier fault than a partition. Healing closes the connections
//     that lived through the cut, as TCP eventually would after a long
//     partition; clients reconnect.
//   - Loss: dropping bytes of a TCP stream would model a corrupted
//     connection, not a lossy network. On a lossy network TCP retransmits,
//     so loss shows as stalls: each chunk is held with probability p for a
//     retransmission timeout, doubling on every further loss, and the
//     connection is reset after lossMaxRetries losses in a row, as TCP
//     gives up. Order and content are kept.
//   - Latency: d/2 on each direction, counted from when a chunk arrived, so
//     a round trip grows by d and a stream's throughput is not cut.
const (
	lossRTO        = 200 * time.Millisecond
	lossMaxRetries = 6
	// chunkSize is a pipe's read buffer; queueLen bounds the chunks a
	// faulted direction holds before it stops reading (TCP's back
	// pressure then reaches the sender).
	chunkSize = 32 << 10
	queueLen  = 64
)

// faults is a link's fault state. It is never changed: a change makes a
// new one and closes the old one's changed channel, which wakes every
// pipe waiting on it.
type faults struct {
	cut     bool
	loss    float64
	latency time.Duration
	changed chan struct{}
}

func (f *faults) none() bool { return !f.cut && f.loss == 0 && f.latency == 0 }

// delay is the latency of one direction: half of the round trip's going
// up, the rest coming down.
func (f *faults) delay(up bool) time.Duration {
	if up {
		return f.latency / 2
	}
	return f.latency - f.latency/2
}

// link is one client-server path through its own relay.
type link struct {
	client, server string
	upstream       string
	ln             net.Listener
	addr           string

	state atomic.Pointer[faults]

	mu     sync.Mutex // serializes fault changes, guards conns and closed
	conns  map[*relay]struct{}
	closed bool
	wg     sync.WaitGroup
}

// proxies owns every link of a cluster.
type proxies struct{}

func newProxies() *proxies { return &proxies{} }

// newLink starts a relay on a free loopback port in front of upstream.
func (p *proxies) newLink(client, server, upstream string) (*link, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start proxy %s->%s: %w", client, server, err)
	}
	l := &link{client: client, server: server, upstream: upstream, ln: ln, addr: ln.Addr().String(), conns: map[*relay]struct{}{}}
	l.state.Store(&faults{changed: make(chan struct{})})
	l.wg.Add(1)
	go l.accept()
	return l, nil
}

// Addr is where the client dials to reach the server over this link.
func (l *link) Addr() string { return l.addr }

func (l *link) accept() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and the like: retry
			continue
		}
		l.wg.Add(1)
		go l.serve(c)
	}
}

// serve relays one accepted connection to the upstream.
func (l *link) serve(down net.Conn) {
	defer l.wg.Done()
	up, err := net.DialTimeout("tcp", l.upstream, 10*time.Second)
	if err != nil {
		down.Close()
		return
	}
	noDelay(down)
	noDelay(up)
	r := &relay{down: down, up: up, done: make(chan struct{})}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		r.close()
		return
	}
	l.conns[r] = struct{}{}
	l.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); l.pipe(r, down, up, true) }()
	go func() { defer wg.Done(); l.pipe(r, up, down, false) }()
	wg.Wait()
	l.mu.Lock()
	delete(l.conns, r)
	l.mu.Unlock()
}

func noDelay(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
}

// relay is one proxied connection: the client's side (down) and the
// server's (up).
type relay struct {
	down, up net.Conn
	once     sync.Once
	done     chan struct{}
}

// close closes both sides: when one direction ends the other does too,
// as toxiproxy closed a link's connections.
func (r *relay) close() {
	r.once.Do(func() {
		close(r.done)
		r.down.Close()
		r.up.Close()
	})
}

// chunk is bytes read from one side, with the time they arrived.
type chunk struct {
	data []byte
	at   time.Time
}

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// pipe copies src to dst (up: client to server). Healthy, it writes each
// chunk as soon as it is read, in this goroutine; once a fault is set, or
// while chunks are still queued from one, it queues them to a writer that
// applies the faults, so the order holds.
func (l *link) pipe(r *relay, src, dst net.Conn, up bool) {
	defer r.close()
	queue := make(chan chunk, queueLen)
	var pending atomic.Int64 // chunks queued and not yet written or dropped
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		l.writer(r, dst, up, queue, &pending)
	}()
	defer func() {
		close(queue)
		<-writerDone
	}()
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	for {
		n, err := src.Read(buf)
		if n > 0 {
			f := l.state.Load()
			if pending.Load() == 0 && (f.none() || f.cut) {
				if !f.cut { // a cut drops the bytes
					if _, werr := dst.Write(buf[:n]); werr != nil {
						return
					}
				}
			} else {
				data := make([]byte, n)
				copy(data, buf[:n])
				pending.Add(1)
				select {
				case queue <- chunk{data: data, at: time.Now()}:
				case <-r.done:
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// writer writes the queued chunks of one direction after their faults:
// dropped while the link is cut, held for retransmissions while it loses,
// delayed by its latency.
func (l *link) writer(r *relay, dst net.Conn, up bool, queue <-chan chunk, pending *atomic.Int64) {
	for c := range queue {
		ok := l.deliver(r, dst, up, c)
		pending.Add(-1)
		if !ok {
			r.close()
			for range queue {
				pending.Add(-1)
			}
			return
		}
	}
}

// deliver applies the link's faults to one chunk and writes it; false
// ends the connection (a write error, too many losses, or closed).
func (l *link) deliver(r *relay, dst net.Conn, up bool, c chunk) bool {
	f := l.state.Load()
	if f.cut {
		return true // dropped
	}
	// Loss: the retransmissions' waits, drawn once for the chunk; a
	// change of the link's faults (loss healed, say) passes it on at once.
	if f.loss > 0 {
		var hold time.Duration
		for i := 0; rand.Float64() < f.loss; i++ {
			if i >= lossMaxRetries {
				return false
			}
			hold += lossRTO << i
		}
		if hold > 0 && !l.wait(r, f, time.Now().Add(hold)) && r.isDone() {
			return false
		}
		f = l.state.Load()
	}
	for {
		if f.cut {
			return true
		}
		d := f.delay(up)
		if d <= 0 {
			break
		}
		if l.wait(r, f, c.at.Add(d)) {
			break
		}
		if r.isDone() {
			return false
		}
		f = l.state.Load() // the latency changed: wait by the new one
	}
	_, err := dst.Write(c.data)
	return err == nil
}

// wait waits until t; it returns false early when the connection closes
// or the link's faults change.
func (l *link) wait(r *relay, f *faults, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-f.changed:
		return false
	case <-r.done:
		return false
	}
}

func (r *relay) isDone() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// set installs new faults made by change from the current ones and wakes
// whatever waited on the old ones; it returns the old ones.
func (l *link) set(change func(*faults)) *faults {
	old := l.state.Load()
	nf := &faults{cut: old.cut, loss: old.loss, latency: old.latency, changed: make(chan struct{})}
	change(nf)
	l.state.Store(nf)
	close(old.changed)
	return old
}

// SetCut cuts (black-holes) or heals the link.
func (l *link) SetCut(cut bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state.Load().cut == cut {
		return nil
	}
	l.set(func(f *faults) { f.cut = cut })
	if !cut {
		// The connections that lived through the cut are closed; new
		// ones work.
		for r := range l.conns {
			r.close()
		}
	}
	return nil
}

// SetLoss sets the loss probability (0 heals).
func (l *link) SetLoss(p float64) error {
	if p < 0 {
		p = 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state.Load().loss == p {
		return nil
	}
	l.set(func(f *faults) { f.loss = p })
	return nil
}

// SetLatency adds d to every round trip (0 heals).
func (l *link) SetLatency(d time.Duration) error {
	if d < 0 {
		d = 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state.Load().latency == d {
		return nil
	}
	l.set(func(f *faults) { f.latency = d })
	return nil
}

// Faulty reports whether any fault is set on the link.
func (l *link) Faulty() bool { return !l.state.Load().none() }

// Close stops the relay and closes every connection through it.
func (l *link) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.ln.Close()
	for r := range l.conns {
		r.close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}
