package ares

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The round trips and fsyncs of every operation type, pinned (issue 14):
// a change that adds a round, or an fsync, to any of them fails
// TestRounds. docs/ROUNDS.md sets these counts beside the minimum
// ARES-SPEC allows.
//
// A round is one quorum phase: one request to every server of a
// configuration (counted where it reaches the configuration's first
// server). An fsync is one Storage.Apply (the server's store syncs every
// batch before it answers); the figure is the most any one server made,
// which is what the operation waits for (servers sync in parallel).

// countNet is an in-memory transport that calls the servers' handlers
// directly and counts what reaches them.
type countNet struct {
	servers map[string]*Server
	stores  map[string]*applyCounter

	mu       sync.Mutex
	rounds   map[Op]int
	started  atomic.Int64
	finished atomic.Int64
}

// applyCounter counts a server's Apply calls (its fsyncs).
type applyCounter struct {
	*MemStorage
	applies atomic.Int64
}

func (a *applyCounter) Apply(puts map[string][]byte, dels []string) error {
	a.applies.Add(1)
	return a.MemStorage.Apply(puts, dels)
}

func newCountNet(t *testing.T, n int) (*countNet, []Node) {
	t.Helper()
	cn := &countNet{servers: map[string]*Server{}, stores: map[string]*applyCounter{}, rounds: map[Op]int{}}
	pool := make([]Node, n)
	for i := range pool {
		id := fmt.Sprintf("s%d", i+1)
		pool[i] = Node{ID: id, Addr: fmt.Sprintf("mem:%d", i+1)}
		st := &applyCounter{MemStorage: NewMemStorage()}
		s, err := NewServer(st, ServerOptions{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		cn.servers[id], cn.stores[id] = s, st
	}
	return cn, pool
}

// Call implements Transport.
func (cn *countNet) Call(ctx context.Context, to Node, req *Request) (*Response, error) {
	cn.started.Add(1)
	defer cn.finished.Add(1)
	if req.Described != nil && len(req.Described.Servers) > 0 && req.Described.Servers[0].ID == to.ID {
		cn.mu.Lock()
		cn.rounds[req.Op]++
		cn.mu.Unlock()
	}
	return cn.servers[to.ID].Handle(ctx, req)
}

// quiesce waits until every request sent has been handled: the quorum
// returns at its first replies, the other servers still work.
func (cn *countNet) quiesce(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	stable := 0
	for time.Now().Before(deadline) {
		cn.mu.Lock()
		phases := 0
		for _, r := range cn.rounds {
			phases += r
		}
		cn.mu.Unlock()
		s, f := cn.started.Load(), cn.finished.Load()
		if s == f && s == int64(phases*n) {
			if stable++; stable >= 3 {
				return
			}
		} else {
			stable = 0
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("requests still in flight: %d started, %d handled", cn.started.Load(), cn.finished.Load())
}

// cost is what one operation took.
type cost struct {
	rounds map[Op]int
	fsyncs int64 // the most Apply calls any one server made
}

func (c cost) total() int {
	n := 0
	for _, r := range c.rounds {
		n += r
	}
	return n
}

// String is "total rounds (per op), fsyncs": "3 (get-tag 1, put-data 1, read-config 1), 1 fsync".
func (c cost) String() string {
	var ops []string
	for op, r := range c.rounds {
		if r > 0 {
			ops = append(ops, fmt.Sprintf("%s %d", op, r))
		}
	}
	sort.Strings(ops)
	return fmt.Sprintf("%d (%s), %d fsync", c.total(), strings.Join(ops, ", "), c.fsyncs)
}

// measure runs op and returns what it cost.
func (cn *countNet) measure(t *testing.T, n int, op func() error) cost {
	t.Helper()
	cn.quiesce(t, n)
	cn.mu.Lock()
	cn.rounds = map[Op]int{}
	cn.mu.Unlock()
	cn.started.Store(0)
	cn.finished.Store(0)
	before := map[string]int64{}
	for id, st := range cn.stores {
		before[id] = st.applies.Load()
	}
	if err := op(); err != nil {
		t.Fatal(err)
	}
	cn.quiesce(t, n)
	c := cost{rounds: map[Op]int{}}
	cn.mu.Lock()
	for op, r := range cn.rounds {
		c.rounds[op] = r
	}
	cn.mu.Unlock()
	for id, st := range cn.stores {
		c.fsyncs = max(c.fsyncs, st.applies.Load()-before[id])
	}
	return c
}

// roundCase is one operation type in one setting.
type roundCase struct {
	dap    DAP
	pb, gc bool
	op     string
}

func (rc roundCase) String() string {
	s := string(rc.dap)
	if rc.pb {
		s += " PB"
	}
	if rc.gc {
		s += " GC"
	}
	return s + ": " + rc.op
}

// Operation types measured. Steady state: one finalized configuration,
// a client that has run an operation before (it knows the sequence).
const (
	opWrite        = "write"
	opRead         = "read"
	opReadFresh    = "read, never-written key" // the write-back puts t0's empty value
	opCover        = "cover-write, takes effect"
	opCovered      = "cover-write, covered"
	opReconfig     = "reconfig"
	opReadPending  = "read, 3 pending configs, known"
	opReadPending1 = "read, 3 pending configs, first time"
	opReadChain    = "read, 3 finalized configs, first time"
	opWriteChain   = "write, 3 finalized configs, first time"
)

var roundOps = []string{opWrite, opRead, opReadFresh, opCover, opCovered, opReconfig,
	opReadPending1, opReadPending, opReadChain, opWriteChain}

// measureRounds measures every operation type of one setting on a fresh
// cluster of 5 servers.
func measureRounds(t *testing.T, dap DAP, pb, gc bool) map[string]cost {
	t.Helper()
	const n = 5
	cn, pool := newCountNet(t, n)
	cfg := func() *Config {
		c := &Config{Servers: append([]Node(nil), pool...), DAP: dap}
		if dap == EC {
			c.K = 3
		}
		return c
	}
	ctx := context.Background()
	client := func(name string) *Client {
		cl, err := NewClient(ClientOptions{ID: name, Initial: cfg(), Transport: cn, PB: pb, GC: gc, Retry: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	out := map[string]cost{}
	c := client("c")
	// Warm up: the client and every server have seen configuration 0
	// (a server records a configuration once, with one fsync).
	if err := c.Write(ctx, "warm", []byte("w")); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, "k", []byte("v0")); err != nil {
		t.Fatal(err)
	}
	out[opWrite] = cn.measure(t, n, func() error { return c.Write(ctx, "k", []byte("v1")) })
	out[opRead] = cn.measure(t, n, func() error { _, err := c.Read(ctx, "k"); return err })
	out[opReadFresh] = cn.measure(t, n, func() error { _, err := c.Read(ctx, "fresh"); return err })
	_, info, err := c.ReadInfo(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	out[opCover] = cn.measure(t, n, func() error {
		res, err := c.CoverWrite(ctx, "k", info.Tag, []byte("v2"))
		if err == nil && res.Covered {
			err = fmt.Errorf("cover-write covered")
		}
		return err
	})
	out[opCovered] = cn.measure(t, n, func() error {
		res, err := c.CoverWrite(ctx, "k", Tag{TS: 1, WID: "nobody"}, []byte("v3"))
		if err == nil && !res.Covered {
			err = fmt.Errorf("cover-write took effect")
		}
		return err
	})
	out[opReconfig] = cn.measure(t, n, func() error { _, err := c.Reconfig(ctx, cfg()); return err })

	// Three pending configurations: what reconfigurers that crashed
	// before finalizing leave behind (ARES II slides, Table II).
	inst := client("installer")
	for range 3 {
		if _, err := inst.InstallPending(ctx, cfg()); err != nil {
			t.Fatal(err)
		}
	}
	out[opReadPending1] = cn.measure(t, n, func() error { _, err := c.Read(ctx, "k"); return err })
	out[opReadPending] = cn.measure(t, n, func() error { _, err := c.Read(ctx, "k"); return err })

	// Finalize them (a reconfig on top), then two more: a client that
	// knows only configuration 0 walks the chain.
	for range 3 {
		if _, err := inst.Reconfig(ctx, cfg()); err != nil {
			t.Fatal(err)
		}
	}
	fresh := client("fresh-reader")
	out[opReadChain] = cn.measure(t, n, func() error { _, err := fresh.Read(ctx, "k"); return err })
	freshW := client("fresh-writer")
	out[opWriteChain] = cn.measure(t, n, func() error { return freshW.Write(ctx, "k", []byte("v4")) })
	return out
}

// wantRounds pins every count: total rounds (rounds per request kind),
// and the most fsyncs any server made. go test -run TestRounds -v ./ares
// prints the table as measured.
var wantRounds = map[string]string{
	"abd: write":                                        "4 (put-data 1, query-tag 1, read-config 2), 1 fsync",
	"abd: read":                                         "3 (query-data 1, read-config 2), 0 fsync",
	"abd: read, never-written key":                      "3 (query-data 1, read-config 2), 0 fsync",
	"abd: cover-write, takes effect":                    "4 (put-data 1, query-data 1, read-config 2), 1 fsync",
	"abd: cover-write, covered":                         "4 (put-data 1, query-data 1, read-config 2), 0 fsync",
	"abd: reconfig":                                     "8 (accept 1, prepare 1, put-data 1, query-data 2, read-config 1, write-config 2), 6 fsync",
	"abd: read, 3 pending configs, first time":          "15 (query-data 4, read-config 8, write-config 3), 0 fsync",
	"abd: read, 3 pending configs, known":               "12 (query-data 4, read-config 8), 0 fsync",
	"abd: read, 3 finalized configs, first time":        "17 (query-data 1, read-config 9, write-config 7), 0 fsync",
	"abd: write, 3 finalized configs, first time":       "18 (put-data 1, query-tag 1, read-config 9, write-config 7), 1 fsync",
	"abd PB: write":                                     "3 (put-data 1, query-tag 1, read-config 1), 1 fsync",
	"abd PB: read":                                      "2 (query-data 1, read-config 1), 0 fsync",
	"abd PB: read, never-written key":                   "2 (query-data 1, read-config 1), 0 fsync",
	"abd PB: cover-write, takes effect":                 "3 (put-data 1, query-data 1, read-config 1), 1 fsync",
	"abd PB: cover-write, covered":                      "3 (put-data 1, query-data 1, read-config 1), 0 fsync",
	"abd PB: reconfig":                                  "8 (accept 1, prepare 1, put-data 1, query-data 2, read-config 1, write-config 2), 6 fsync",
	"abd PB: read, 3 pending configs, first time":       "11 (query-data 4, read-config 4, write-config 3), 0 fsync",
	"abd PB: read, 3 pending configs, known":            "8 (query-data 4, read-config 4), 0 fsync",
	"abd PB: read, 3 finalized configs, first time":     "16 (query-data 8, read-config 1, write-config 7), 0 fsync",
	"abd PB: write, 3 finalized configs, first time":    "17 (put-data 1, query-tag 8, read-config 1, write-config 7), 1 fsync",
	"abd GC: write":                                     "4 (put-data 1, query-tag 1, read-config 2), 1 fsync",
	"abd GC: read":                                      "3 (query-data 1, read-config 2), 0 fsync",
	"abd GC: read, never-written key":                   "3 (query-data 1, read-config 2), 0 fsync",
	"abd GC: cover-write, takes effect":                 "4 (put-data 1, query-data 1, read-config 2), 1 fsync",
	"abd GC: cover-write, covered":                      "4 (put-data 1, query-data 1, read-config 2), 0 fsync",
	"abd GC: reconfig":                                  "9 (accept 1, gc-config 1, prepare 1, put-data 1, query-data 2, read-config 1, write-config 2), 7 fsync",
	"abd GC: read, 3 pending configs, first time":       "15 (query-data 4, read-config 8, write-config 3), 0 fsync",
	"abd GC: read, 3 pending configs, known":            "12 (query-data 4, read-config 8), 0 fsync",
	"abd GC: read, 3 finalized configs, first time":     "9 (query-data 1, read-config 5, write-config 3), 0 fsync",
	"abd GC: write, 3 finalized configs, first time":    "10 (put-data 1, query-tag 1, read-config 5, write-config 3), 1 fsync",
	"abd PB GC: write":                                  "3 (put-data 1, query-tag 1, read-config 1), 1 fsync",
	"abd PB GC: read":                                   "2 (query-data 1, read-config 1), 0 fsync",
	"abd PB GC: read, never-written key":                "2 (query-data 1, read-config 1), 0 fsync",
	"abd PB GC: cover-write, takes effect":              "3 (put-data 1, query-data 1, read-config 1), 1 fsync",
	"abd PB GC: cover-write, covered":                   "3 (put-data 1, query-data 1, read-config 1), 0 fsync",
	"abd PB GC: reconfig":                               "9 (accept 1, gc-config 1, prepare 1, put-data 1, query-data 2, read-config 1, write-config 2), 7 fsync",
	"abd PB GC: read, 3 pending configs, first time":    "11 (query-data 4, read-config 4, write-config 3), 0 fsync",
	"abd PB GC: read, 3 pending configs, known":         "8 (query-data 4, read-config 4), 0 fsync",
	"abd PB GC: read, 3 finalized configs, first time":  "8 (query-data 4, read-config 1, write-config 3), 0 fsync",
	"abd PB GC: write, 3 finalized configs, first time": "9 (put-data 1, query-tag 4, read-config 1, write-config 3), 1 fsync",
	"ec: write":                                        "4 (put-data 1, query-tag 1, read-config 2), 1 fsync",
	"ec: read":                                         "4 (put-data 1, query-data 1, read-config 2), 0 fsync",
	"ec: read, never-written key":                      "4 (put-data 1, query-data 1, read-config 2), 0 fsync",
	"ec: cover-write, takes effect":                    "4 (put-data 1, query-data 1, read-config 2), 1 fsync",
	"ec: cover-write, covered":                         "4 (put-data 1, query-data 1, read-config 2), 0 fsync",
	"ec: reconfig":                                     "8 (accept 1, prepare 1, put-data 1, query-data 2, read-config 1, write-config 2), 6 fsync",
	"ec: read, 3 pending configs, first time":          "16 (put-data 1, query-data 4, read-config 8, write-config 3), 0 fsync",
	"ec: read, 3 pending configs, known":               "13 (put-data 1, query-data 4, read-config 8), 0 fsync",
	"ec: read, 3 finalized configs, first time":        "18 (put-data 1, query-data 1, read-config 9, write-config 7), 0 fsync",
	"ec: write, 3 finalized configs, first time":       "18 (put-data 1, query-tag 1, read-config 9, write-config 7), 1 fsync",
	"ec PB: write":                                     "3 (put-data 1, query-tag 1, read-config 1), 1 fsync",
	"ec PB: read":                                      "3 (put-data 1, query-data 1, read-config 1), 0 fsync",
	"ec PB: read, never-written key":                   "3 (put-data 1, query-data 1, read-config 1), 0 fsync",
	"ec PB: cover-write, takes effect":                 "3 (put-data 1, query-data 1, read-config 1), 1 fsync",
	"ec PB: cover-write, covered":                      "3 (put-data 1, query-data 1, read-config 1), 0 fsync",
	"ec PB: reconfig":                                  "8 (accept 1, prepare 1, put-data 1, query-data 2, read-config 1, write-config 2), 6 fsync",
	"ec PB: read, 3 pending configs, first time":       "12 (put-data 1, query-data 4, read-config 4, write-config 3), 0 fsync",
	"ec PB: read, 3 pending configs, known":            "9 (put-data 1, query-data 4, read-config 4), 0 fsync",
	"ec PB: read, 3 finalized configs, first time":     "17 (put-data 1, query-data 8, read-config 1, write-config 7), 0 fsync",
	"ec PB: write, 3 finalized configs, first time":    "17 (put-data 1, query-tag 8, read-config 1, write-config 7), 1 fsync",
	"ec GC: write":                                     "4 (put-data 1, query-tag 1, read-config 2), 1 fsync",
	"ec GC: read":                                      "4 (put-data 1, query-data 1, read-config 2), 0 fsync",
	"ec GC: read, never-written key":                   "4 (put-data 1, query-data 1, read-config 2), 0 fsync",
	"ec GC: cover-write, takes effect":                 "4 (put-data 1, query-data 1, read-config 2), 1 fsync",
	"ec GC: cover-write, covered":                      "4 (put-data 1, query-data 1, read-config 2), 0 fsync",
	"ec GC: reconfig":                                  "9 (accept 1, gc-config 1, prepare 1, put-data 1, query-data 2, read-config 1, write-config 2), 7 fsync",
	"ec GC: read, 3 pending configs, first time":       "16 (put-data 1, query-data 4, read-config 8, write-config 3), 0 fsync",
	"ec GC: read, 3 pending configs, known":            "13 (put-data 1, query-data 4, read-config 8), 0 fsync",
	"ec GC: read, 3 finalized configs, first time":     "10 (put-data 1, query-data 1, read-config 5, write-config 3), 0 fsync",
	"ec GC: write, 3 finalized configs, first time":    "10 (put-data 1, query-tag 1, read-config 5, write-config 3), 1 fsync",
	"ec PB GC: write":                                  "3 (put-data 1, query-tag 1, read-config 1), 1 fsync",
	"ec PB GC: read":                                   "3 (put-data 1, query-data 1, read-config 1), 0 fsync",
	"ec PB GC: read, never-written key":                "3 (put-data 1, query-data 1, read-config 1), 0 fsync",
	"ec PB GC: cover-write, takes effect":              "3 (put-data 1, query-data 1, read-config 1), 1 fsync",
	"ec PB GC: cover-write, covered":                   "3 (put-data 1, query-data 1, read-config 1), 0 fsync",
	"ec PB GC: reconfig":                               "9 (accept 1, gc-config 1, prepare 1, put-data 1, query-data 2, read-config 1, write-config 2), 7 fsync",
	"ec PB GC: read, 3 pending configs, first time":    "12 (put-data 1, query-data 4, read-config 4, write-config 3), 0 fsync",
	"ec PB GC: read, 3 pending configs, known":         "9 (put-data 1, query-data 4, read-config 4), 0 fsync",
	"ec PB GC: read, 3 finalized configs, first time":  "9 (put-data 1, query-data 4, read-config 1, write-config 3), 0 fsync",
	"ec PB GC: write, 3 finalized configs, first time": "9 (put-data 1, query-tag 4, read-config 1, write-config 3), 1 fsync",
}

// TestRounds measures every operation type with PB and GC off and on,
// ABD and EC, and fails on any count that differs from wantRounds: a
// regression that adds a round or an fsync, or a saving that the table
// (and docs/ROUNDS.md) should record.
func TestRounds(t *testing.T) {
	for _, dap := range []DAP{ABD, EC} {
		for _, s := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			got := measureRounds(t, dap, s[0], s[1])
			for _, op := range roundOps {
				rc := roundCase{dap: dap, pb: s[0], gc: s[1], op: op}
				t.Logf("%-50s %s", rc, got[op])
				if want := wantRounds[rc.String()]; got[op].String() != want {
					t.Errorf("%s: %s, want %s", rc, got[op], want)
				}
			}
		}
	}
}
