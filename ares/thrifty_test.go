package ares

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// thriftyNet calls in-memory servers and counts the requests each got;
// a silent server never answers, a failing one fails at once, a
// refusing one refuses.
type thriftyNet struct {
	servers map[string]*Server
	mu      sync.Mutex
	asked   map[string]int
	// askedThrifty counts only the requests of thrifty phases.
	askedThrifty map[string]int
	phases       map[*Config]int // requests per phase (a phase's requests share their Described)
	ops          map[*Config]Op
	silent       map[string]bool
	failing      map[string]bool
	refuse       map[string]bool
}

func newThriftyNet(t *testing.T, n int) (*thriftyNet, []Node) {
	tn := &thriftyNet{servers: map[string]*Server{}, asked: map[string]int{}, askedThrifty: map[string]int{}, phases: map[*Config]int{}, ops: map[*Config]Op{}, silent: map[string]bool{},
		failing: map[string]bool{}, refuse: map[string]bool{}}
	pool := make([]Node, n)
	for i := range pool {
		id := fmt.Sprintf("s%d", i+1)
		pool[i] = Node{ID: id, Addr: id}
		s, err := NewServer(NewMemStorage(), ServerOptions{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		tn.servers[id] = s
	}
	return tn, pool
}

func (tn *thriftyNet) Call(ctx context.Context, to Node, req *Request) (*Response, error) {
	tn.mu.Lock()
	tn.asked[to.ID]++
	if thriftyOp(req.Op) {
		tn.askedThrifty[to.ID]++
	}
	tn.phases[req.Described]++
	tn.ops[req.Described] = req.Op
	silent, failing, refuse := tn.silent[to.ID], tn.failing[to.ID], tn.refuse[to.ID]
	tn.mu.Unlock()
	switch {
	case silent:
		<-ctx.Done()
		return nil, ctx.Err()
	case failing:
		return nil, errors.New("connection refused")
	case refuse:
		return nil, &RefusedError{Reason: "not mine"}
	}
	return tn.servers[to.ID].Handle(ctx, req)
}

func (tn *thriftyNet) reset() {
	tn.mu.Lock()
	tn.asked, tn.askedThrifty, tn.phases, tn.ops = map[string]int{}, map[string]int{}, map[*Config]int{}, map[*Config]Op{}
	tn.mu.Unlock()
}

// thriftyClient is a client whose hedge waits hedge: a minute makes a
// test that finishes prove that no timer was needed.
func thriftyClient(t *testing.T, tn *thriftyNet, cfg *Config, hedge time.Duration) *Client {
	c, err := NewClient(ClientOptions{ID: "w", Initial: cfg, Transport: tn, PB: true, GC: true, Thrifty: true, Retry: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c.th.floor, c.th.start, c.th.penaltyFor = hedge, hedge, time.Hour
	return c
}

func thriftyConfig(pool []Node, dap DAP, k int) *Config {
	return &Config{ID: 0, DAP: dap, K: k, Servers: pool}
}

// TestThriftyAsksAQuorum: with every server healthy, each phase of a
// thrifty write and read asks exactly a quorum (3 of 5 for ABD and
// read-config, 4 of 5 for EC [5,3]), except a write's get-tag, which asks
// every server (thriftyOp); every client asks the same servers about one
// object, so an ABD read after another client's write agrees and writes
// nothing back; the objects spread over every server.
func TestThriftyAsksAQuorum(t *testing.T) {
	for _, tc := range []struct {
		dap     DAP
		k, need int
	}{{ABD, 0, 3}, {EC, 3, 4}} {
		t.Run(string(tc.dap), func(t *testing.T) {
			tn, pool := newThriftyNet(t, 5)
			cfg := thriftyConfig(pool, tc.dap, tc.k)
			w, r := thriftyClient(t, tn, cfg, time.Minute), thriftyClient(t, tn, cfg, time.Minute)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for _, c := range []*Client{w, r} { // each learns the configuration
				if _, err := c.Read(ctx, "k0"); err != nil {
					t.Fatal(err)
				}
			}
			tn.reset()
			const ops = 20
			for i := 0; i < ops; i++ {
				key, v := fmt.Sprintf("k%d", i%10), fmt.Sprintf("v%d", i)
				if err := w.Write(ctx, key, []byte(v)); err != nil {
					t.Fatal(err)
				}
				got, err := r.Read(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != v {
					t.Fatalf("read %q after writing %q", got, v)
				}
			}
			tn.mu.Lock()
			defer tn.mu.Unlock()
			puts := 0
			for d, n := range tn.phases {
				want := tc.need
				switch tn.ops[d] {
				case OpReadConfig:
					want = 3 // the configuration's majority, whatever its DAP
				case OpQueryTag:
					want = 5
				}
				if n != want {
					t.Fatalf("a %s phase asked %d servers; want %d", tn.ops[d], n, want)
				}
				if tn.ops[d] == OpPutData {
					puts++
				}
			}
			if tc.dap == ABD && puts != ops {
				t.Errorf("%d put-data phases for %d writes and reads: the reads wrote back, their quorums disagreed", puts, ops)
			}
			for _, s := range pool {
				if tn.asked[s.ID] == 0 {
					t.Errorf("server %s never asked about 10 objects (%v)", s.ID, tn.asked)
				}
			}
		})
	}
}

// TestThriftyFailureAsksAnother: a server that fails at once is replaced
// at once, with no wait for the hedge (a minute here), and then goes to
// the back of the order.
func TestThriftyFailureAsksAnother(t *testing.T) {
	tn, pool := newThriftyNet(t, 5)
	tn.failing["s1"] = true
	c := thriftyClient(t, tn, thriftyConfig(pool, ABD, 0), time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < 10; i++ {
		if err := c.Write(ctx, "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	tn.mu.Lock()
	defer tn.mu.Unlock()
	if tn.askedThrifty["s1"] > 1 {
		t.Fatalf("the failing server was asked %d times in thrifty phases; want once, then it goes last", tn.askedThrifty["s1"])
	}
}

// TestThriftySilentServerHedged: a server that never answers costs one
// hedge delay, then goes to the back of the order.
func TestThriftySilentServerHedged(t *testing.T) {
	tn, pool := newThriftyNet(t, 5)
	tn.silent["s1"] = true
	c := thriftyClient(t, tn, thriftyConfig(pool, ABD, 0), 20*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < 20; i++ {
		if err := c.Write(ctx, "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	tn.mu.Lock()
	defer tn.mu.Unlock()
	if tn.askedThrifty["s1"] != 1 {
		t.Fatalf("the silent server was asked %d times in thrifty phases; want once, then it goes last", tn.askedThrifty["s1"])
	}
}

// TestThriftyRefusalsFailFast: when too many servers refuse for a quorum
// to answer, the phase fails with the refusal, not at its deadline.
func TestThriftyRefusalsFailFast(t *testing.T) {
	tn, pool := newThriftyNet(t, 5)
	for _, id := range []string{"s1", "s2", "s3"} {
		tn.refuse[id] = true
	}
	c := thriftyClient(t, tn, thriftyConfig(pool, ABD, 0), time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := c.Write(ctx, "k", []byte("v"))
	if !IsRefused(err) {
		t.Fatalf("write with 3 of 5 servers refusing: %v; want the refusal", err)
	}
	var qe *QuorumError
	// Every server was asked (a refusal asks one more); the refusing
	// ones are missing, with those whose answer had not come yet.
	if !errors.As(err, &qe) || len(qe.Missing) < 3 || len(qe.NotAsked) != 0 {
		t.Fatalf("quorum error %v; want every server asked, the 3 refusing ones missing", err)
	}
}
