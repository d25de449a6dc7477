package aresrpc

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
)

// pingCounter counts the HTTP/2 PING frames a client writes on its
// connection (its own pings and its acknowledgements of the server's).
type pingCounter struct {
	net.Conn
	pings *atomic.Int64

	mu      sync.Mutex
	buf     []byte
	preface int // bytes of the client preface still to skip
}

func (c *pingCounter) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.buf = append(c.buf, p...)
	skip := min(c.preface, len(c.buf))
	c.buf, c.preface = c.buf[skip:], c.preface-skip
	// Frames: a 9-byte header (length 3 bytes, type, flags, stream id),
	// then the payload.
	for c.preface == 0 && len(c.buf) >= 9 {
		n := 9 + (int(c.buf[0])<<16 | int(c.buf[1])<<8 | int(c.buf[2]))
		if len(c.buf) < n {
			break
		}
		if c.buf[3] == 0x6 { // PING
			c.pings.Add(1)
		}
		c.buf = c.buf[n:]
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// TestSmallRequestsSendNoPings: small requests one after another on a
// session make the client write no PING frames. With gRPC's BDP
// estimation (windows not fixed) each reply made the client send a PING
// and each request made the server send one the client acknowledged:
// about two per request, each a wake-up more at the other end
// (streamWindow says more).
func TestSmallRequestsSendNoPings(t *testing.T) {
	addr, _ := serve(t, "127.0.0.1:0", &echo{from: "s1"})
	var pings atomic.Int64
	tr := newTransport(t, WithDialer(func(ctx context.Context, a string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", a)
		if err != nil {
			return nil, err
		}
		return &pingCounter{Conn: c, pings: &pings, preface: len("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")}, nil
	}))
	node := ares.Node{ID: "s1", Addr: addr}
	req := &ares.Request{Op: ares.OpQueryTag, Keys: []string{"k"}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 200
	for range n {
		if _, err := tr.Call(ctx, node, req); err != nil {
			t.Fatal(err)
		}
	}
	// Keepalive pings come every clientKeepaliveTime, far apart.
	if got := pings.Load(); got > 2 {
		t.Fatalf("the client wrote %d PING frames for %d requests; want none but keepalives", got, n)
	}
}
