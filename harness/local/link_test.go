package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// echoServer answers every line with the same line.
func echoServer(t *testing.T) string { return echoOn(t, "tcp", "127.0.0.1:0") }

func echoOn(t *testing.T, network, addr string) string {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends a line over conn and waits up to d for it to come back.
func roundTrip(conn net.Conn, r *bufio.Reader, msg string, d time.Duration) error {
	_ = conn.SetDeadline(time.Now().Add(d))
	if _, err := fmt.Fprintln(conn, msg); err != nil {
		return err
	}
	got, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(got) != msg {
		return fmt.Errorf("got %q, want %q", got, msg)
	}
	return nil
}

func dial(t *testing.T, l *link) (net.Conn, *bufio.Reader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := l.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// TestLinkCut: a cut link stops traffic to its server, on a live
// connection and on a new one, while another link works; healing brings
// traffic back on a new connection.
func TestLinkCut(t *testing.T) {
	l1 := newLink("c0", &server{id: "s1", addr: echoServer(t)})
	defer l1.Close()
	l2 := newLink("c0", &server{id: "s2", addr: echoServer(t)})
	defer l2.Close()

	live, liveR := dial(t, l1)
	if err := roundTrip(live, liveR, "before", time.Second); err != nil {
		t.Fatalf("before the cut: %v", err)
	}
	other, otherR := dial(t, l2)

	if err := l1.SetCut(true); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(live, liveR, "during", 300*time.Millisecond); err == nil {
		t.Fatal("a live connection still carries traffic over a cut link")
	}
	fresh, freshR := dial(t, l1)
	if err := roundTrip(fresh, freshR, "during-new", 300*time.Millisecond); err == nil {
		t.Fatal("a new connection carries traffic over a cut link")
	}
	if err := roundTrip(other, otherR, "other", time.Second); err != nil {
		t.Fatalf("the uncut link fails: %v", err)
	}
	if !l1.Faulty() || l2.Faulty() {
		t.Fatalf("faulty: l1 %v l2 %v", l1.Faulty(), l2.Faulty())
	}

	if err := l1.SetCut(false); err != nil {
		t.Fatal(err)
	}
	healed, healedR := dial(t, l1)
	if err := roundTrip(healed, healedR, "after", time.Second); err != nil {
		t.Fatalf("after the heal: %v", err)
	}
}

// TestLinkLossKeepsStreamIntact: loss delays chunks (TCP retransmission)
// but never reorders, drops or corrupts bytes.
func TestLinkLossKeepsStreamIntact(t *testing.T) {
	l := newLink("c0", &server{id: "s1", addr: echoServer(t)})
	defer l.Close()
	if err := l.SetLoss(0.3); err != nil {
		t.Fatal(err)
	}
	c, r := dial(t, l)
	var slow int
	for i := 0; i < 20; i++ {
		t0 := time.Now()
		err := roundTrip(c, r, fmt.Sprintf("m%d", i), 30*time.Second)
		if err != nil {
			// lossMaxRetries losses in a row reset the connection, as TCP
			// gives up; with p=0.3 that is rare but allowed.
			if strings.Contains(err.Error(), "got") {
				t.Fatalf("stream corrupted: %v", err)
			}
			c, r = dial(t, l)
			continue
		}
		if time.Since(t0) >= lossRTO {
			slow++
		}
	}
	if slow == 0 {
		t.Fatal("loss 0.3 delayed no round trip")
	}
	if err := l.SetLoss(0); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := roundTrip(c, r, "clean", time.Second); err != nil || time.Since(t0) > lossRTO {
		t.Fatalf("after healing loss: %v in %v", err, time.Since(t0))
	}
}

func TestLinkLatency(t *testing.T) {
	l := newLink("c0", &server{id: "s1", addr: echoServer(t)})
	defer l.Close()
	c, r := dial(t, l)
	if err := l.SetLatency(200 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := roundTrip(c, r, "slow", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 190*time.Millisecond {
		t.Fatalf("round trip took %v with 200ms added", d)
	}
}

// TestLinkClose: a closed link closes its connections, in whatever mode
// (one through a latency fault reads in a goroutine of its own), and
// dials no more.
func TestLinkClose(t *testing.T) {
	l := newLink("c0", &server{id: "s1", addr: echoServer(t)})
	c, r := dial(t, l)
	slow, slowR := dial(t, l)
	if err := l.SetLatency(20 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(slow, slowR, "slow", time.Second); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := l.Dial(context.Background()); err == nil {
		t.Fatal("a closed link dialed")
	}
	for _, conn := range []struct {
		c net.Conn
		r *bufio.Reader
	}{{c, r}, {slow, slowR}} {
		_ = conn.c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := conn.r.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("a connection through a closed link is still open (%v)", err)
		}
	}
}

// TestLinkReadDeadline: a read deadline holds on a connection whose reads
// moved to their goroutine (a latency fault), as on the socket.
func TestLinkReadDeadline(t *testing.T) {
	l := newLink("c0", &server{id: "s1", addr: echoServer(t)})
	defer l.Close()
	c, r := dial(t, l)
	if err := l.SetLatency(time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(c, r, "x", time.Second); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	t0 := time.Now()
	if _, err := r.ReadByte(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with nothing to read: %v, want a deadline error", err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("the deadline took %v", d)
	}
	// A timeout is not final: with the deadline lifted, the connection
	// reads on.
	_ = c.SetReadDeadline(time.Time{})
	if err := roundTrip(c, r, "after", time.Second); err != nil {
		t.Fatalf("after a read timeout: %v", err)
	}
}

// TestLinkLatencyKeepsPipelining: latency counts from each chunk's
// arrival, so messages sent back to back arrive one latency later, not one
// latency each; and the order holds.
func TestLinkLatencyKeepsPipelining(t *testing.T) {
	l := newLink("c0", &server{id: "s1", addr: echoServer(t)})
	defer l.Close()
	c, r := dial(t, l)
	if err := l.SetLatency(200 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	for i := 0; i < 5; i++ {
		if _, err := fmt.Fprintf(c, "m%d\n", i); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // separate chunks
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	for i := 0; i < 5; i++ {
		got, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("m%d\n", i); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	if d := time.Since(t0); d < 190*time.Millisecond || d > 600*time.Millisecond {
		t.Fatalf("5 pipelined round trips took %v with 200ms added", d)
	}
	if err := l.SetLatency(0); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	if err := roundTrip(c, r, "healed", time.Second); err != nil || time.Since(t0) > 100*time.Millisecond {
		t.Fatalf("after healing latency: %v in %v", err, time.Since(t0))
	}
}

// TestLinkHealClosesCutConnections: the connections that lived through a
// cut are closed by the heal (what they sent during the cut is lost, as
// after a long partition); the client reconnects.
func TestLinkHealClosesCutConnections(t *testing.T) {
	l := newLink("c0", &server{id: "s1", addr: echoServer(t)})
	defer l.Close()
	c, r := dial(t, l)
	if err := roundTrip(c, r, "before", time.Second); err != nil {
		t.Fatal(err)
	}
	if err := l.SetCut(true); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintln(c, "lost"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := l.SetCut(false); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	if got, err := r.ReadString('\n'); err == nil {
		t.Fatalf("a connection cut and healed still carries %q", got)
	}
	c2, r2 := dial(t, l)
	if err := roundTrip(c2, r2, "after", time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestLinkDialsUnixSocket: a link reaches its server on the server's
// Unix socket when it has one (nothing listens on its TCP address here),
// and a cut still holds every byte.
func TestLinkDialsUnixSocket(t *testing.T) {
	name := unixName(t.TempDir(), "s1")
	echoOn(t, "unix", name)
	l := newLink("c0", &server{id: "s1", addr: "127.0.0.1:1", unix: name})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := l.Dial(ctx)
	if err != nil {
		t.Fatalf("dial over the Unix socket: %v", err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	if err := roundTrip(conn, r, "hello", 2*time.Second); err != nil {
		t.Fatalf("healthy link: %v", err)
	}
	if err := l.SetCut(true); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(conn, r, "lost", 200*time.Millisecond); err == nil {
		t.Fatal("a line crossed a cut link")
	}
}
