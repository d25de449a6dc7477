package nemesis

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/history"
)

func TestShortError(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("no quorum"), "no quorum"},
		{errors.New("first line\nsecond line"), "first line…"},
		{errors.New(long), strings.Repeat("x", 120) + "…"},
		{errors.New(strings.Repeat("é", 130)), strings.Repeat("é", 120) + "…"},
	} {
		if got := ShortError(c.err); got != c.want {
			t.Errorf("ShortError(%v) = %q; want %q", c.err, got, c.want)
		}
	}
}

// longReconf fails every reconfiguration with the kind of error a real one
// gives under a partition: every server's gRPC dial error, hundreds of
// characters.
type longReconf struct {
	mu      sync.Mutex
	members []string
}

var errLongReconf = errors.New("reconfig: read-config on configuration 0: 1 of 3 needed replies; " +
	strings.Repeat(`s1: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:7001: connect: connection refused"; `, 5))

func (r *longReconf) Reconfig(context.Context, []string, ares.DAP, int) (string, error) {
	return "", errLongReconf
}

func (r *longReconf) Members() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.members...)
}

// TestReconfigFailureLogLine: an expected reconfiguration failure is one
// short warning; the whole error stays in the history's stop line (and at
// debug level).
func TestReconfigFailureLogLine(t *testing.T) {
	c := newFake(7, 4)
	r := &longReconf{members: c.servers[:5]}
	c.members = r.Members
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := New(Options{Faults: []string{Reconfig}, Interval: time.Millisecond, Logger: log}, c, r, 1)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); n.Run(ctx, rec.record) }()
	for len(rec.snapshot()) < 2 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-ran
	ops := rec.snapshot()
	if ops[1].F != history.FStop || ops[1].Error != errLongReconf.Error() {
		t.Fatalf("history stop line lost the full error: %+v", ops[1])
	}
	line, _, _ := strings.Cut(buf.String(), "\n")
	if !strings.Contains(line, "nemesis reconfiguration failed") || len(line) > 400 {
		t.Fatalf("log line (%d bytes) %q; want one short warning", len(line), line)
	}
	if strings.Count(line, "connection refused") > 1 {
		t.Fatalf("log line carries the whole chain: %q", line)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
