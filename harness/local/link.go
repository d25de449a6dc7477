package local

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// How the links model faults. Each client-server pair is a link; the
// client's transport dials the server through it (link.Dial), which wraps
// the real connection to the server in a faultConn. Healthy, a faultConn
// reads and writes the socket in the caller's goroutine: no relay, no
// second socket pair, no hand-off. That replaced a TCP relay per link
// (and before it toxiproxy), whose extra hop cost the clients most of
// what recording and faults took of their throughput (issue 14). The
// faults act as the relay's did:
//
//   - Cut is a black hole: every byte is dropped, on live connections and
//     on new ones (a new one still connects, as through a relay), the way a
//     real partition drops packets: calls hang until their deadline
//     instead of failing fast. Healing closes the connections that lived
//     through the cut, as TCP eventually would after a long partition;
//     clients reconnect.
//   - Loss: dropping bytes of a TCP stream would model a corrupted
//     connection, not a lossy network. On a lossy network TCP retransmits,
//     so loss shows as stalls: each chunk is held with probability p for a
//     retransmission timeout, doubling on every further loss, and the
//     connection is reset after lossMaxRetries losses in a row, as TCP
//     gives up. Order and content are kept.
//   - Latency: d/2 on each direction, counted from when a chunk was
//     written (up) or arrived (down), so a round trip grows by d and a
//     stream's throughput is not cut.
//
// Once a loss or latency fault has touched a connection's reads, a
// goroutine of its own reads the socket (to know when each chunk arrived)
// for the rest of the connection's life; writes go back to the caller's
// goroutine as soon as nothing of theirs is queued.
const (
	lossRTO        = 200 * time.Millisecond
	lossMaxRetries = 6
	// chunkSize is what the reading goroutine reads at once; queueLen
	// bounds the chunks a faulted direction holds before it stops taking
	// more (TCP's back pressure then reaches the sender).
	chunkSize = 32 << 10
	queueLen  = 64
)

// faults is a link's fault state. It is never changed: a change makes a
// new one and closes the old one's changed channel, which wakes every
// connection waiting on it.
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

// link is one client-server path.
type link struct {
	client, server string
	to             *server

	state atomic.Pointer[faults]

	mu     sync.Mutex // serializes fault changes, guards conns and closed
	conns  map[*faultConn]struct{}
	closed bool
}

// newLink returns the link from client to server s.
func newLink(client string, s *server) *link {
	l := &link{client: client, server: s.id, to: s, conns: map[*faultConn]struct{}{}}
	l.state.Store(&faults{changed: make(chan struct{})})
	return l
}

// errLinkClosed is what dialing a closed link returns.
var errLinkClosed = errors.New("link closed")

// Dial connects to the server through the link's faults.
func (l *link) Dial(ctx context.Context) (net.Conn, error) {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return nil, errLinkClosed
	}
	raw, err := dialServer(ctx, l.to)
	if err != nil {
		return nil, err
	}
	noDelay(raw)
	c := &faultConn{Conn: raw, l: l, done: make(chan struct{}), dlChanged: make(chan struct{}, 1)}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		raw.Close()
		return nil, errLinkClosed
	}
	l.conns[c] = struct{}{}
	return c, nil
}

func noDelay(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
}

// chunk is bytes of one direction, with the time they were written or
// arrived; err ends the down direction.
type chunk struct {
	data []byte
	at   time.Time
	err  error
}

// faultConn is one connection through a link.
type faultConn struct {
	net.Conn
	l    *link
	once sync.Once
	done chan struct{}

	// Up (writes): healthy, straight to the socket; faulted, queued to a
	// writer goroutine that applies the faults, in order.
	wmu       sync.Mutex
	upQ       chan chunk
	upPending atomic.Int64 // chunks queued and not yet written or dropped
	upErr     atomic.Pointer[error]

	// Down (reads): healthy, straight from the socket; once faulted, a
	// reader goroutine queues what arrives and Read applies the faults.
	rmu     sync.Mutex
	downQ   chan chunk // nil until a fault first touches the reads
	rest    []byte     // what Read has yet to return of a chunk
	downErr error

	// The read deadline. Until the reads move to their goroutine it is
	// the socket's own; after, Read's (the socket's stays zero, or the
	// reading goroutine would end on it), and a change wakes a waiting
	// Read through dlChanged.
	dmu       sync.Mutex
	slow      bool
	deadline  time.Time
	dlChanged chan struct{}
}

// Close closes the connection (and ends its goroutines).
func (c *faultConn) Close() error {
	err := c.shut()
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return err
}

// shut closes the connection without touching the link (whose lock the
// caller may hold).
func (c *faultConn) shut() error {
	var err error
	c.once.Do(func() {
		close(c.done)
		err = c.Conn.Close()
	})
	return err
}

func (c *faultConn) isDone() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Write implements net.Conn.
func (c *faultConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if e := c.upErr.Load(); e != nil {
		return 0, *e
	}
	f := c.l.state.Load()
	if c.upPending.Load() == 0 && (f.none() || f.cut) {
		if f.cut {
			return len(p), nil // a cut drops the bytes
		}
		return c.Conn.Write(p)
	}
	if c.upQ == nil {
		c.upQ = make(chan chunk, queueLen)
		go c.writer()
	}
	data := make([]byte, len(p))
	copy(data, p)
	c.upPending.Add(1)
	select {
	case c.upQ <- chunk{data: data, at: time.Now()}:
		return len(p), nil
	case <-c.done:
		c.upPending.Add(-1)
		return 0, net.ErrClosed
	}
}

// writer writes the queued chunks after their faults.
func (c *faultConn) writer() {
	for {
		select {
		case ch := <-c.upQ:
			err := c.deliver(true, ch)
			if err == nil {
				_, err = c.Conn.Write(ch.data)
			}
			c.upPending.Add(-1)
			if err != nil && !errors.Is(err, errDropped) {
				c.upErr.Store(&err)
				c.Close()
				return
			}
		case <-c.done:
			return
		}
	}
}

// errDropped says a chunk went into a cut.
var errDropped = errors.New("dropped by a cut")

// deliver applies the link's faults to one chunk: it waits out its loss
// and latency, and returns errDropped if a cut takes it, another error if
// the connection must end (too many losses in a row, or closed).
func (c *faultConn) deliver(up bool, ch chunk) error {
	f := c.l.state.Load()
	if f.cut {
		return errDropped
	}
	// Loss: the retransmissions' waits, drawn once for the chunk; a change
	// of the link's faults (loss healed, say) passes it on at once.
	if f.loss > 0 {
		var hold time.Duration
		for i := 0; rand.Float64() < f.loss; i++ {
			if i >= lossMaxRetries {
				return errors.New("connection reset: too many losses in a row")
			}
			hold += lossRTO << i
		}
		if hold > 0 && !c.wait(f, time.Now().Add(hold)) && c.isDone() {
			return net.ErrClosed
		}
		f = c.l.state.Load()
	}
	for {
		if f.cut {
			return errDropped
		}
		d := f.delay(up)
		if d <= 0 {
			return nil
		}
		if c.wait(f, ch.at.Add(d)) {
			return nil
		}
		if c.isDone() {
			return net.ErrClosed
		}
		f = c.l.state.Load() // the latency changed: wait by the new one
	}
}

// wait waits until t; it returns false early when the connection closes
// or the link's faults change.
func (c *faultConn) wait(f *faults, t time.Time) bool {
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
	case <-c.done:
		return false
	}
}

// Read implements net.Conn.
func (c *faultConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if len(c.rest) > 0 {
			n := copy(p, c.rest)
			c.rest = c.rest[n:]
			return n, nil
		}
		if c.downErr != nil {
			return 0, c.downErr
		}
		if c.downQ == nil {
			if f := c.l.state.Load(); f.none() || f.cut {
				n, err := c.Conn.Read(p)
				if n > 0 && c.l.state.Load().cut {
					n = 0 // a cut drops the bytes
				}
				if n > 0 || err != nil {
					return n, err
				}
				continue
			}
			c.startReader()
		}
		ch, err := c.next()
		if err != nil {
			return 0, err
		}
		if ch.err != nil {
			c.downErr = ch.err
			continue
		}
		switch err := c.deliver(false, ch); {
		case errors.Is(err, errDropped):
		case err != nil:
			c.Close()
			c.downErr = err
		default:
			c.rest = ch.data
		}
	}
}

// startReader moves the reads to a goroutine that stamps each chunk with
// its arrival. The caller's read deadline moves with them.
func (c *faultConn) startReader() {
	c.downQ = make(chan chunk, queueLen)
	c.dmu.Lock()
	c.slow = true
	_ = c.Conn.SetReadDeadline(time.Time{})
	c.dmu.Unlock()
	go func() {
		for {
			buf := make([]byte, chunkSize)
			n, err := c.Conn.Read(buf)
			if n > 0 {
				select {
				case c.downQ <- chunk{data: buf[:n], at: time.Now()}:
				case <-c.done:
					return
				}
			}
			if err != nil {
				select {
				case c.downQ <- chunk{err: err}:
				case <-c.done:
				}
				return
			}
		}
	}()
}

// next takes the next chunk the reader queued, within the read deadline
// (a timeout is not final: a later deadline lets Read go on).
func (c *faultConn) next() (chunk, error) {
	for {
		c.dmu.Lock()
		dl := c.deadline
		c.dmu.Unlock()
		var timeout <-chan time.Time
		stop := func() {}
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return chunk{}, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(d)
			stop, timeout = func() { t.Stop() }, t.C
		}
		select {
		case ch := <-c.downQ:
			stop()
			return ch, nil
		case <-timeout:
			return chunk{}, os.ErrDeadlineExceeded
		case <-c.dlChanged: // look again
			stop()
		case <-c.done:
			stop()
			return chunk{}, net.ErrClosed
		}
	}
}

// SetReadDeadline implements net.Conn.
func (c *faultConn) SetReadDeadline(t time.Time) error {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	c.deadline = t
	if c.slow {
		select {
		case c.dlChanged <- struct{}{}:
		default:
		}
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline implements net.Conn.
func (c *faultConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
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
	if l.state.Load().cut == cut {
		l.mu.Unlock()
		return nil
	}
	if !cut {
		// The connections that lived through the cut are closed before
		// the link heals, so none of them carries a stream with a hole
		// in it; new ones work.
		for c := range l.conns {
			c.shut()
			delete(l.conns, c)
		}
	}
	l.set(func(f *faults) { f.cut = cut })
	l.mu.Unlock()
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

// Close closes every connection through the link; later dials fail.
func (l *link) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	var all []*faultConn
	for c := range l.conns {
		all = append(all, c)
	}
	l.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
}
