package ares_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/ares/memnet"
)

// cluster is a pool of ARES servers on an in-memory network.
type cluster struct {
	t      *testing.T
	net    *memnet.Network
	pool   []ares.Node
	stores map[string]*ares.MemStorage
	mu     sync.Mutex
	kill   map[string]func()
	down   map[string]bool
	bug    ares.Bug
	// maxReply is the servers' reply budget (0: the default).
	maxReply int64
	// thrifty: clients ask a quorum first (ares.ClientOptions.Thrifty).
	thrifty bool
}

func newCluster(t *testing.T, n int, seed uint64) *cluster {
	c := &cluster{t: t, net: memnet.New(seed), stores: map[string]*ares.MemStorage{}, kill: map[string]func(){}, down: map[string]bool{}}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("s%d", i+1)
		c.pool = append(c.pool, ares.Node{ID: id, Addr: fmt.Sprintf("mem:%d", i+1)})
		c.stores[id] = ares.NewMemStorage()
		c.net.AddServer(id, c.boot(id))
	}
	return c
}

// boot starts an incarnation of server id on its durable storage.
func (c *cluster) boot(id string) ares.Handler {
	st, kill := memnet.Fence(c.stores[id])
	s, err := ares.NewServer(st, ares.ServerOptions{ID: id, Delta: 5, Bug: c.bug, MaxReplyBytes: c.maxReply})
	if err != nil {
		c.t.Fatalf("boot %s: %v", id, err)
	}
	c.mu.Lock()
	c.kill[id] = kill
	c.mu.Unlock()
	return s
}

// crash kills server id: its in-flight work is cut off, its disk stays.
func (c *cluster) crash(id string) {
	c.mu.Lock()
	kill := c.kill[id]
	c.down[id] = true
	c.mu.Unlock()
	c.net.Crash(id)
	kill()
}

func (c *cluster) restart(id string) {
	if err := c.net.Restart(id, c.boot(id)); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	delete(c.down, id)
	c.mu.Unlock()
}

func (c *cluster) config(dap ares.DAP, k int, ids ...int) *ares.Config {
	cfg := &ares.Config{DAP: dap, K: k}
	for _, i := range ids {
		cfg.Servers = append(cfg.Servers, c.pool[i])
	}
	return cfg
}

func (c *cluster) client(name string, initial *ares.Config, pb, gc bool) *ares.Client {
	cl, err := ares.NewClient(ares.ClientOptions{ID: name, Initial: initial, Transport: c.net.Client(name), PB: pb, GC: gc, Thrifty: c.thrifty, Retry: 40 * time.Millisecond, DecodeRetries: 50, Bug: c.bug})
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

// registerInput is one register operation for Porcupine.
type registerInput struct {
	write bool
	key   string
	value string
}

// registerModel is a multi-key register partitioned by key.
var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(registerInput).key
			if _, ok := by[k]; !ok {
				keys = append(keys, k)
			}
			by[k] = append(by[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() interface{} { return "" },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		in := input.(registerInput)
		if in.write {
			return true, in.value
		}
		return output.(string) == state.(string), state
	},
	DescribeOperation: func(input, output interface{}) string {
		in := input.(registerInput)
		if in.write {
			return fmt.Sprintf("put(%s, %s)", in.key, in.value)
		}
		return fmt.Sprintf("get(%s) -> %v", in.key, output)
	},
}

// recorder collects a history. A write that failed may have taken effect
// at any time after its invocation: it returns at infinity. A read that
// failed constrains nothing and is left out.
type recorder struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
	ok    atomic.Int64
	info  atomic.Int64
}

func (r *recorder) now() int64 { return int64(time.Since(r.start)) }

func (r *recorder) add(proc int, in registerInput, out string, call int64, err error) {
	ret := r.now()
	if err != nil {
		r.info.Add(1)
		if !in.write {
			return
		}
		ret = math.MaxInt64
	} else {
		r.ok.Add(1)
	}
	r.mu.Lock()
	r.ops = append(r.ops, porcupine.Operation{ClientId: proc, Input: in, Output: out, Call: call, Return: ret})
	r.mu.Unlock()
}

type scenario struct {
	initial     func(c *cluster) *ares.Config
	targets     func(c *cluster, rng *rand.Rand) *ares.Config // nil: no reconfiguration
	pb, gc      bool
	thrifty     bool
	clients     int
	keys        int
	reconfigs   int // at least this many reconfigurations
	reconfigers int
	faults      memnet.Faults
	crash       bool // crash and restart a minority of servers during the run
	dur         time.Duration
}

// minOK is the floor of completed operations below which a scenario
// proves nothing.
const minOK = 100

type outcome struct {
	rec       *recorder
	seqs      [][]ares.SeqEntry
	reconfigs int64
	net       *memnet.Network
}

func runScenario(t *testing.T, sc scenario, seed uint64) outcome {
	c := newCluster(t, 8, seed)
	c.thrifty = sc.thrifty
	c.net.SetFaults(sc.faults)
	initial := sc.initial(c)
	rec := &recorder{start: time.Now()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var reconfigs atomic.Int64
	// Stop after sc.dur once enough happened to prove something; a slow
	// machine (or the race detector) runs longer rather than failing.
	go func() {
		defer cancel()
		hard := time.After(120 * time.Second)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		start := time.Now()
		for {
			select {
			case <-hard:
				return
			case <-tick.C:
				if time.Since(start) >= sc.dur && rec.ok.Load() >= minOK && reconfigs.Load() >= int64(sc.reconfigs) {
					return
				}
			}
		}
	}()
	var wg sync.WaitGroup
	var clients []*ares.Client
	var cmu sync.Mutex
	for i := 0; i < sc.clients; i++ {
		cl := c.client(fmt.Sprintf("c%d", i), initial, sc.pb, sc.gc)
		clients = append(clients, cl)
		wg.Add(1)
		go func(i int, cl *ares.Client) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			proc := i
			for n := 0; ctx.Err() == nil; n++ {
				in := registerInput{key: fmt.Sprintf("k%d", rng.IntN(sc.keys))}
				if rng.IntN(2) == 0 {
					in.write, in.value = true, fmt.Sprintf("c%d-%d", i, n)
				}
				call := rec.now()
				octx, ocancel := context.WithTimeout(context.Background(), 10*time.Second)
				var out string
				var err error
				if in.write {
					err = cl.Write(octx, in.key, []byte(in.value))
				} else {
					var v []byte
					v, err = cl.Read(octx, in.key)
					out = string(v)
				}
				ocancel()
				rec.add(proc, in, out, call, err)
				if err != nil {
					proc += sc.clients // a new process, as in Jepsen
				}
			}
		}(i, cl)
	}
	if sc.targets != nil {
		for r := 0; r < sc.reconfigers; r++ {
			cl := c.client(fmt.Sprintf("r%d", r), initial, sc.pb, sc.gc)
			cmu.Lock()
			clients = append(clients, cl)
			cmu.Unlock()
			wg.Add(1)
			go func(r int, cl *ares.Client) {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(seed, 1000+uint64(r)))
				for ctx.Err() == nil {
					rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err := cl.Reconfig(rctx, sc.targets(c, rng))
					rcancel()
					if err != nil {
						t.Logf("reconfig: %v", err)
						continue
					}
					reconfigs.Add(1)
					// Leave the clients room between reconfigurations, as an
					// operator would; the two reconfigurers still overlap.
					time.Sleep(time.Duration(20+rng.IntN(60)) * time.Millisecond)
				}
			}(r, cl)
		}
	}
	if sc.crash {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 77))
			for ctx.Err() == nil {
				// One server of the pool at a time: a minority of any
				// configuration of three or more servers.
				id := c.pool[rng.IntN(len(c.pool))].ID
				c.crash(id)
				time.Sleep(time.Duration(20+rng.IntN(60)) * time.Millisecond)
				c.restart(id)
				time.Sleep(time.Duration(20+rng.IntN(60)) * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	// Heal and read every key once more: every acknowledged write must
	// still be there.
	c.net.SetFaults(memnet.Faults{})
	final := c.client("final", initial, sc.pb, sc.gc)
	for k := 0; k < sc.keys; k++ {
		in := registerInput{key: fmt.Sprintf("k%d", k)}
		call := rec.now()
		v, err := final.Read(context.Background(), in.key)
		if err != nil {
			t.Fatalf("final read of %s: %v", in.key, err)
		}
		rec.add(10000, in, string(v), call, nil)
	}
	o := outcome{rec: rec, reconfigs: reconfigs.Load(), net: c.net}
	for _, cl := range append(clients, final) {
		o.seqs = append(o.seqs, cl.Sequence())
	}
	return o
}

// checkOutcome asserts linearizability and the prefix property of cseq.
func checkOutcome(t *testing.T, sc scenario, o outcome) {
	t.Helper()
	if o.rec.ok.Load() < minOK {
		t.Fatalf("only %d operations completed (%d unknown): the test proves nothing", o.rec.ok.Load(), o.rec.info.Load())
	}
	res, info := porcupine.CheckOperationsVerbose(registerModel, o.rec.ops, 60*time.Second)
	switch res {
	case porcupine.Illegal:
		path := fmt.Sprintf("%s/%s.html", t.TempDir(), "history")
		_ = porcupine.VisualizePath(registerModel, info, path)
		t.Fatalf("history is not linearizable (%d ops); visualization: %s", len(o.rec.ops), path)
	case porcupine.Unknown:
		t.Fatalf("linearizability check timed out on %d ops", len(o.rec.ops))
	}
	if sc.targets != nil && o.reconfigs < int64(sc.reconfigs) {
		t.Fatalf("%d reconfigurations, want at least %d", o.reconfigs, sc.reconfigs)
	}
	// Any two sequences agree wherever both have a configuration, and the
	// shorter one's configurations are all in the longer one.
	seen := map[uint64]*ares.Config{}
	for _, s := range o.seqs {
		for _, e := range s {
			if prev, ok := seen[e.Cfg.ID]; ok && !prev.Equal(e.Cfg) {
				t.Fatalf("two clients disagree on configuration %d: %s vs %s", e.Cfg.ID, prev, e.Cfg)
			}
			seen[e.Cfg.ID] = e.Cfg
		}
		for i := 1; i < len(s) && !sc.gc; i++ {
			if s[i].Cfg.ID != s[i-1].Cfg.ID+1 {
				t.Fatalf("sequence has a gap without GC: %v", s)
			}
		}
	}
	t.Logf("%d ops (%d ok, %d unknown), %d reconfigurations, %d stale replies discarded, longest cseq %d",
		len(o.rec.ops), o.rec.ok.Load(), o.rec.info.Load(), o.reconfigs, o.net.Stale.Load(), len(seen))
}

var lossy = memnet.Faults{Drop: 0.05, Dup: 0.05, MaxDelay: 3 * time.Millisecond}

func abdOn(c *cluster) *ares.Config { return c.config(ares.ABD, 0, 0, 1, 2, 3, 4) }
func ecOn(c *cluster) *ares.Config  { return c.config(ares.EC, 3, 0, 1, 2, 3, 4) }

// randomTarget picks 3..6 servers of the pool and a DAP.
func randomTarget(dap func(rng *rand.Rand) ares.DAP) func(c *cluster, rng *rand.Rand) *ares.Config {
	return func(c *cluster, rng *rand.Rand) *ares.Config {
		n := 3 + rng.IntN(4)
		perm := rng.Perm(len(c.pool))[:n]
		d := dap(rng)
		k := 0
		if d == ares.EC {
			k = 1 + rng.IntN(n-2) // leaves n-k >= 2 so that one crash is tolerated
		}
		return c.config(d, k, perm...)
	}
}

func onlyABD(*rand.Rand) ares.DAP { return ares.ABD }
func onlyEC(*rand.Rand) ares.DAP  { return ares.EC }
func mixed(rng *rand.Rand) ares.DAP {
	if rng.IntN(2) == 0 {
		return ares.ABD
	}
	return ares.EC
}

func duration(t *testing.T) time.Duration {
	if testing.Short() {
		return 700 * time.Millisecond
	}
	return 2 * time.Second
}

// Static configurations under drops, delays, duplicates and a minority of
// servers cut off from every client.
// Thrifty clients too: the cut servers are among those they ask first
// until a hedge moves them to the back.
func TestLinearizableStatic(t *testing.T) {
	for _, name := range []string{"abd", "ec", "abd/thrifty", "ec/thrifty"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			initial := abdOn
			if strings.HasPrefix(name, "ec") {
				initial = ecOn
			}
			sc := scenario{initial: initial, clients: 6, keys: 3, faults: lossy, dur: duration(t), thrifty: strings.HasSuffix(name, "thrifty")}
			c := sc // the cut is applied inside by a custom run
			_ = c
			o := runStaticWithCut(t, sc, 1)
			checkOutcome(t, sc, o)
		})
	}
}

// runStaticWithCut runs a static scenario with servers s4 (ABD, a
// minority of 5) or s5 (EC [5,3], f=1) cut off from every client.
func runStaticWithCut(t *testing.T, sc scenario, seed uint64) outcome {
	sc.faults = lossy
	prev := sc.initial
	sc.initial = func(c *cluster) *ares.Config {
		cfg := prev(c)
		for i := 0; i < sc.clients; i++ {
			c.net.Cut(fmt.Sprintf("c%d", i), "s5")
			if cfg.DAP == ares.ABD {
				c.net.Cut(fmt.Sprintf("c%d", i), "s4")
			}
		}
		return cfg
	}
	return runScenario(t, sc, seed)
}

func TestLinearizableReconfig(t *testing.T) {
	for _, seqKind := range []string{"abd", "ec", "mixed"} {
		for _, opt := range []struct{ pb, gc bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
			name := fmt.Sprintf("%s/pb=%v/gc=%v", seqKind, opt.pb, opt.gc)
			t.Run(name, func(t *testing.T) {
				sc := scenario{clients: 5, keys: 3, reconfigs: 10, reconfigers: 2, faults: lossy, dur: duration(t), pb: opt.pb, gc: opt.gc}
				switch seqKind {
				case "abd":
					sc.initial, sc.targets = abdOn, randomTarget(onlyABD)
				case "ec":
					sc.initial, sc.targets = ecOn, randomTarget(onlyEC)
				default:
					sc.initial, sc.targets = abdOn, randomTarget(mixed)
				}
				checkOutcome(t, sc, runScenario(t, sc, 7))
			})
		}
	}
}

// Servers crash and restart on their durable state (Paxos acceptors
// among them) while reconfigurations run.
func TestLinearizableReconfigWithCrashes(t *testing.T) {
	for _, opt := range []struct{ pb, gc, thrifty bool }{{false, false, false}, {true, true, false}, {true, true, true}} {
		t.Run(fmt.Sprintf("pb=%v/gc=%v/thrifty=%v", opt.pb, opt.gc, opt.thrifty), func(t *testing.T) {
			sc := scenario{initial: abdOn, targets: randomTarget(mixed), clients: 5, keys: 3, reconfigs: 10, reconfigers: 2,
				faults: memnet.Faults{Drop: 0.02, Dup: 0.05, MaxDelay: 2 * time.Millisecond}, crash: true, dur: duration(t), pb: opt.pb, gc: opt.gc, thrifty: opt.thrifty}
			checkOutcome(t, sc, runScenario(t, sc, 11))
		})
	}
}

// A write, a reconfiguration to a disjoint set of servers with EC, every
// old server crashed: the value is still there.
func TestReconfigToDisjointServers(t *testing.T) {
	c := newCluster(t, 8, 3)
	initial := c.config(ares.ABD, 0, 0, 1, 2)
	w := c.client("w", initial, true, true)
	ctx := context.Background()
	if err := w.Write(ctx, "k", []byte("before")); err != nil {
		t.Fatal(err)
	}
	d, err := w.Reconfig(ctx, c.config(ares.EC, 3, 3, 4, 5, 6, 7))
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != 1 || d.DAP != ares.EC {
		t.Fatalf("installed %s", d)
	}
	for _, i := range []int{0, 1, 2} {
		c.crash(c.pool[i].ID)
	}
	// A client that knows only the initial configuration cannot find the
	// new one with every old server down; one that knows it can.
	r := c.client("r", initial, false, false)
	rctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := r.Read(rctx, "k"); !errors.Is(err, ares.ErrUnavailable) {
		t.Fatalf("read through dead servers: %v, want ErrUnavailable", err)
	}
	v, err := w.Read(ctx, "k")
	if err != nil || string(v) != "before" {
		t.Fatalf("read after reconfig: %q %v", v, err)
	}
	seq, err := w.Configs(ctx)
	if err != nil || len(seq) != 1 || seq[0].Cfg.ID != 1 || seq[0].Status != ares.Finalized {
		t.Fatalf("configs after GC: %v %v", seq, err)
	}
}

// TestReconfigPagesTheTransfer: update-config moves state that does not
// fit one reply in pages (the servers' reply budget here is 1 KiB, the
// state 40 keys of 300 bytes), through ABD and EC configurations, and
// every key survives the loss of every earlier server.
func TestReconfigPagesTheTransfer(t *testing.T) {
	c := newCluster(t, 9, 5)
	c.maxReply = 1 << 10
	for _, n := range c.pool { // again, with the budget
		if err := c.net.Restart(n.ID, c.boot(n.ID)); err != nil {
			t.Fatal(err)
		}
	}
	pages := &pageCounter{Transport: c.net.Client("w"), budget: c.maxReply}
	initial := c.config(ares.ABD, 0, 0, 1, 2)
	w, err := ares.NewClient(ares.ClientOptions{ID: "w", Initial: initial, Transport: pages, PB: true, GC: true,
		Retry: 40 * time.Millisecond, DecodeRetries: 50})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := map[string]string{}
	for i := 0; i < 40; i++ {
		k := fmt.Sprintf("k%02d", i)
		want[k] = fmt.Sprintf("%03d", i) + strings.Repeat("v", 297)
		if err := w.Write(ctx, k, []byte(want[k])); err != nil {
			t.Fatal(err)
		}
	}
	for _, step := range []struct {
		cfg  *ares.Config
		gone []int
	}{
		{c.config(ares.EC, 2, 3, 4, 5, 6), []int{0, 1, 2}},
		{c.config(ares.ABD, 0, 6, 7, 8), []int{3, 4, 5}},
	} {
		if _, err := w.Reconfig(ctx, step.cfg); err != nil {
			t.Fatal(err)
		}
		for _, i := range step.gone {
			c.crash(c.pool[i].ID)
		}
		for k, v := range want {
			got, err := w.Read(ctx, k)
			if err != nil || string(got) != v {
				t.Fatalf("after reconfig to %s: read %s = %.10q..., %v", step.cfg, k, got, err)
			}
		}
	}
	more, over := pages.stats()
	if more < 2*12 { // 40 objects of 300 bytes, 3 to a 1 KiB page: 13 pages per transfer
		t.Errorf("%d paged replies over two transfers, want at least 24", more)
	}
	if over != "" {
		t.Error(over)
	}
}

// pageCounter counts the get-data replies that stopped at the budget and
// notes one with several objects over it.
type pageCounter struct {
	ares.Transport
	budget int64
	mu     sync.Mutex
	more   int
	over   string
}

func (p *pageCounter) Call(ctx context.Context, to ares.Node, req *ares.Request) (*ares.Response, error) {
	r, err := p.Transport.Call(ctx, to, req)
	if err != nil || r == nil || req.Op != ares.OpQueryData {
		return r, err
	}
	var size int64
	for _, o := range r.Objects {
		for _, e := range o.Entries {
			size += int64(len(e.Value))
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.More {
		p.more++
	}
	if len(r.Objects) > 1 && size > p.budget && p.over == "" {
		p.over = fmt.Sprintf("a reply of %d objects carries %d bytes, over the %d budget", len(r.Objects), size, p.budget)
	}
	return r, nil
}

func (p *pageCounter) stats() (int, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.more, p.over
}

// The bugs are real: each one makes some scenario non-linearizable.
func TestBugsAreCaught(t *testing.T) {
	if testing.Short() {
		t.Skip("bug hunts take seconds each")
	}
	for _, bug := range []ares.Bug{ares.BugNoWriteBack, ares.BugShortQuorum, ares.BugNoTagCheck, ares.BugReuseTag} {
		t.Run(string(bug), func(t *testing.T) {
			t.Parallel()
			// Each seed finds the bug only with some probability, lower
			// under CI's load (short-quorum was missed in 5 seeds once,
			// and in 10 at 60 ms): thirty seeds give margin, and the
			// usual case stops within the first few.
			const seeds = 30
			for seed := uint64(1); seed <= seeds; seed++ {
				if bugFound(t, bug, seed) {
					t.Logf("%s caught with seed %d", bug, seed)
					return
				}
			}
			t.Fatalf("%s not caught in %d seeds", bug, seeds)
		})
	}
}

func bugFound(t *testing.T, bug ares.Bug, seed uint64) bool {
	c := newCluster(t, 5, seed)
	c.bug = bug
	// Rebuild servers with the bug.
	for _, n := range c.pool {
		c.net.Restart(n.ID, c.boot(n.ID))
	}
	// Writers c0 and c1 reach one server at once, a second after 20ms and
	// the rest after 60ms, so each write lingers at a minority; readers
	// c2..c5 reach three servers at once, each a different three. This is
	// the shape in which a read that skips its write-back, or a quorum one
	// short, returns a value older than one already seen.
	c.net.SetFaults(memnet.Faults{MaxDelay: time.Millisecond})
	// A short quorum's write lingers at two servers until its messages
	// to the rest arrive; 150 ms leaves the readers of the other three
	// a wider window than 60 ms did (short-quorum was missed in 10 seeds
	// under CI's load), while reuse-tag needs the rest near (60 ms).
	rest := 60 * time.Millisecond
	if bug == ares.BugShortQuorum {
		rest = 150 * time.Millisecond
	}
	fast := [][]int{{0}, {1}, {0, 1, 2}, {2, 3, 4}, {0, 3, 4}, {1, 3, 4}}
	for i, f := range fast {
		for j, n := range c.pool {
			d := rest
			if i < 2 && j == 1-i {
				d = 20 * time.Millisecond
			}
			for _, x := range f {
				if x == j {
					d = 0
				}
			}
			c.net.SetDelay(fmt.Sprintf("c%d", i), n.ID, d)
		}
	}
	initial := abdOn(c)
	rec := &recorder{start: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range fast {
		cl := c.client(fmt.Sprintf("c%d", i), initial, false, false)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				in := registerInput{key: "k"}
				if i < 2 {
					in.write, in.value = true, fmt.Sprintf("c%d-%d", i, n)
				}
				call := rec.now()
				octx, ocancel := context.WithTimeout(context.Background(), 2*time.Second)
				var out string
				var err error
				if in.write {
					err = cl.Write(octx, in.key, []byte(in.value))
				} else {
					var v []byte
					v, err = cl.Read(octx, in.key)
					out = string(v)
				}
				ocancel()
				rec.add(i, in, out, call, err)
			}
		}(i)
	}
	wg.Wait()
	return porcupine.CheckOperationsTimeout(registerModel, rec.ops, 20*time.Second) == porcupine.Illegal
}
