package local

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// echoServer answers every line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
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
	p := newProxies()
	l1, err := p.newLink("c0", "s1", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Close()
	l2, err := p.newLink("c0", "s2", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()

	live, liveR := dial(t, l1.Addr())
	if err := roundTrip(live, liveR, "before", time.Second); err != nil {
		t.Fatalf("before the cut: %v", err)
	}
	other, otherR := dial(t, l2.Addr())

	if err := l1.SetCut(true); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(live, liveR, "during", 300*time.Millisecond); err == nil {
		t.Fatal("a live connection still carries traffic over a cut link")
	}
	fresh, freshR := dial(t, l1.Addr())
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
	healed, healedR := dial(t, l1.Addr())
	if err := roundTrip(healed, healedR, "after", time.Second); err != nil {
		t.Fatalf("after the heal: %v", err)
	}
}

// TestLinkLossKeepsStreamIntact: loss delays chunks (TCP retransmission)
// but never reorders, drops or corrupts bytes.
func TestLinkLossKeepsStreamIntact(t *testing.T) {
	p := newProxies()
	l, err := p.newLink("c0", "s1", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.SetLoss(0.3); err != nil {
		t.Fatal(err)
	}
	c, r := dial(t, l.Addr())
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
			c, r = dial(t, l.Addr())
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
	p := newProxies()
	l, err := p.newLink("c0", "s1", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, r := dial(t, l.Addr())
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

// TestLinkCloseFreesPort: a closed link listens no more.
func TestLinkCloseFreesPort(t *testing.T) {
	p := newProxies()
	l, err := p.newLink("c0", "s1", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr()
	c, _ := dial(t, addr)
	l.Close()
	if nc, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
		nc.Close()
		t.Fatalf("proxy still listening on %s after Close", addr)
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a connection through a closed link is still open")
	}
}

// TestLinkLatencyKeepsPipelining: latency counts from each chunk's
// arrival, so messages sent back to back arrive one latency later, not one
// latency each; and the order holds.
func TestLinkLatencyKeepsPipelining(t *testing.T) {
	p := newProxies()
	l, err := p.newLink("c0", "s1", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, r := dial(t, l.Addr())
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
	p := newProxies()
	l, err := p.newLink("c0", "s1", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, r := dial(t, l.Addr())
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
	c2, r2 := dial(t, l.Addr())
	if err := roundTrip(c2, r2, "after", time.Second); err != nil {
		t.Fatal(err)
	}
}
