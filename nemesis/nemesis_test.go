package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/history"
)

func TestParse(t *testing.T) {
	good := map[string][]string{
		"":                      {},
		"none":                  {},
		"all":                   Kinds,
		"kill":                  {Kill},
		" reconfig , partition": {Partition, Reconfig},
		"kill,partition,kill":   {Partition, Kill},
	}
	for in, want := range good {
		got, err := Parse(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	bad := map[string]string{
		"kil":          "unknown fault \"kil\" (known: partition, kill, pause, loss, latency, drop, skew, power, crash, steer, reconfig",
		"kill,":        "empty fault name",
		"all,kill":     "cannot be combined",
		"none,kill":    "cannot be combined",
		"kill,,pause":  "empty fault name",
		"partition,x1": "unknown fault \"x1\"",
	}
	for in, want := range bad {
		if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) error = %v; want it to contain %q", in, err, want)
		}
	}
}

func names(prefix string, n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

// kept returns, per client, the sorted servers it can still reach.
func kept(links []Link, clients, servers []string) map[string][]string {
	cut := map[Link]bool{}
	for _, l := range links {
		cut[l] = true
	}
	out := map[string][]string{}
	for _, c := range clients {
		out[c] = []string{}
		for _, s := range servers {
			if !cut[Link{c, s}] {
				out[c] = append(out[c], s)
			}
		}
		slices.Sort(out[c])
	}
	return out
}

func distinct(m map[string][]string) [][]string {
	var out [][]string
	for _, v := range m {
		if !slices.ContainsFunc(out, func(x []string) bool { return slices.Equal(x, v) }) {
			out = append(out, v)
		}
	}
	return out
}

func validLinks(t *testing.T, links []Link, clients, servers []string) {
	t.Helper()
	seen := map[Link]bool{}
	for _, l := range links {
		if !slices.Contains(clients, l.Client) || !slices.Contains(servers, l.Server) {
			t.Fatalf("link %v outside the cluster", l)
		}
		if seen[l] {
			t.Fatalf("link %v cut twice", l)
		}
		seen[l] = true
	}
}

func TestShapes(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 1))
		for nc := 1; nc <= 6; nc++ {
			for ns := 1; ns <= 7; ns++ {
				cs, ss := names("c", nc), names("s", ns)
				name := fmt.Sprintf("seed %d, %d clients, %d servers", seed, nc, ns)

				p, err := planShape(rng, ShapeIsolate, cs, ss)
				if err != nil {
					t.Fatal(err)
				}
				validLinks(t, p.links, cs, ss)
				if len(p.links) != nc {
					t.Fatalf("%s: isolate cut %d links", name, len(p.links))
				}
				for _, l := range p.links {
					if l.Server != p.links[0].Server {
						t.Fatalf("%s: isolate cut two servers: %v", name, p.links)
					}
				}

				p, err = planShape(rng, ShapeCuts, cs, ss)
				if err != nil {
					t.Fatal(err)
				}
				validLinks(t, p.links, cs, ss)
				if len(p.links) < 1 || len(p.links) > max(1, nc*ns/2) {
					t.Fatalf("%s: cuts cut %d links", name, len(p.links))
				}

				if nc >= 2 && ns >= 2 {
					p, err = planShape(rng, ShapeHalves, cs, ss)
					if err != nil {
						t.Fatal(err)
					}
					validLinks(t, p.links, cs, ss)
					// Only cross links are cut: each client keeps exactly
					// its own side's servers.
					sides := distinct(kept(p.links, cs, ss))
					if len(sides) != 2 || len(sides[0]) == 0 || len(sides[1]) == 0 ||
						len(sides[0])+len(sides[1]) != ns ||
						slices.ContainsFunc(sides[0], func(s string) bool { return slices.Contains(sides[1], s) }) {
						t.Fatalf("%s: halves are not two sides: %v (%s)", name, sides, p.desc)
					}
				}

				if ns >= 3 {
					p, err = planShape(rng, ShapeRing, cs, ss)
					if err != nil {
						t.Fatal(err)
					}
					validLinks(t, p.links, cs, ss)
					k := kept(p.links, cs, ss)
					for c, v := range k {
						if len(v) != ns/2+1 {
							t.Fatalf("%s: ring client %s keeps %v, not a bare majority", name, c, v)
						}
					}
					if want := min(nc, ns); len(distinct(k)) != want {
						t.Fatalf("%s: ring has %d distinct majorities, want %d", name, len(distinct(k)), want)
					}

					if nc >= 2 {
						p, err = planShape(rng, ShapeBridge, cs, ss)
						if err != nil {
							t.Fatal(err)
						}
						validLinks(t, p.links, cs, ss)
						sides := distinct(kept(p.links, cs, ss))
						if len(sides) != 2 {
							t.Fatalf("%s: bridge has %d sides", name, len(sides))
						}
						var both []string
						for _, s := range sides[0] {
							if slices.Contains(sides[1], s) {
								both = append(both, s)
							}
						}
						if len(both) != 1 || len(sides[0])+len(sides[1]) != ns+1 {
							t.Fatalf("%s: bridge sides %v do not share exactly one server", name, sides)
						}
					}
				} else {
					for _, shape := range []string{ShapeRing, ShapeBridge} {
						if _, err := planShape(rng, shape, cs, ss); err == nil {
							t.Fatalf("%s: %s accepted fewer than 3 servers", name, shape)
						}
					}
					if _, err := planPartition(rng, cs, ss); err != nil {
						t.Fatalf("%s: planPartition: %v", name, err)
					}
				}
			}
		}
	}
	if _, err := planPartition(rand.New(rand.NewPCG(1, 1)), nil, names("s", 3)); err == nil {
		t.Fatal("planPartition accepted no clients")
	}
	if _, err := planShape(rand.New(rand.NewPCG(1, 1)), "star", names("c", 2), names("s", 3)); err == nil ||
		!strings.Contains(err.Error(), "known: isolate") {
		t.Fatalf("unknown shape: %v", err)
	}
}

func TestNew(t *testing.T) {
	c := newFake(5, 3)
	cases := []struct {
		opts Options
		c    Cluster
		r    Reconfigurer
		want string
	}{
		{Options{Faults: []string{"boom"}, Interval: time.Second}, c, nil, "unknown fault"},
		{Options{Faults: []string{Kill}}, c, nil, "interval must be positive"},
		{Options{Faults: []string{Kill}, Interval: time.Second}, nil, nil, "no cluster"},
		{Options{Faults: []string{Reconfig}, Interval: time.Second}, c, nil, "needs a reconfigurer"},
	}
	for _, tc := range cases {
		if _, err := New(tc.opts, tc.c, tc.r, 1); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) error = %v; want %q", tc.opts, err, tc.want)
		}
	}
	if _, err := New(Options{}, nil, nil, 1); err != nil {
		t.Errorf("a nemesis without faults needs nothing: %v", err)
	}
}

// setup returns a 7-server pool whose first 5 servers form the initial
// configuration, with 4 clients.
func setup() (*fakeCluster, *fakeReconf) {
	c := newFake(7, 4)
	r := &fakeReconf{members: c.servers[:5]}
	c.members = r.Members
	return c, r
}

// runUntil runs a nemesis until the cluster saw at least calls calls and
// the reconfigurer at least reconfigs, then stops it and heals everything.
func runUntil(t *testing.T, faults []string, seed int64, calls, reconfigs int) (*fakeCluster, *fakeReconf, *recorder) {
	t.Helper()
	c, r := setup()
	n, err := New(Options{Faults: faults, Interval: time.Millisecond}, c, r, seed)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); n.Run(ctx, rec.record) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, _ := c.snapshot()
		if len(got) >= calls && len(r.snapshot()) >= reconfigs {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nemesis stalled after %d calls: %v", len(got), got)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-ran
	if err := n.HealAll(context.Background()); err != nil {
		t.Fatalf("HealAll: %v", err)
	}
	if a := n.Active(); len(a) != 0 {
		t.Fatalf("active after HealAll: %v", a)
	}
	if err := c.clean(); err != nil {
		t.Fatal(err)
	}
	if err := checkPairs(rec.snapshot()); err != nil {
		t.Fatal(err)
	}
	if _, problems := c.snapshot(); len(problems) > 0 {
		t.Fatalf("safety limits broken: %v", problems)
	}
	return c, r, rec
}

func TestDeterministic(t *testing.T) {
	const calls, reconfigs = 160, 6
	c1, r1, _ := runUntil(t, Kinds, 7, calls, reconfigs)
	c2, r2, _ := runUntil(t, Kinds, 7, calls, reconfigs)
	c3, r3, _ := runUntil(t, Kinds, 8, calls, reconfigs)
	a, _ := c1.snapshot()
	b, _ := c2.snapshot()
	d, _ := c3.snapshot()
	if !slices.Equal(a[:calls], b[:calls]) {
		t.Fatalf("same seed, different cluster calls:\n%v\n%v", a[:calls], b[:calls])
	}
	if ra, rb := r1.snapshot(), r2.snapshot(); !slices.Equal(ra[:reconfigs], rb[:reconfigs]) {
		t.Fatalf("same seed, different reconfigurations:\n%v\n%v", ra, rb)
	}
	if slices.Equal(a[:calls], d[:calls]) {
		t.Fatal("another seed gave the same cluster calls")
	}
	if ra, rc := r1.snapshot(), r3.snapshot(); slices.Equal(ra[:reconfigs], rc[:reconfigs]) {
		t.Fatal("another seed gave the same reconfigurations")
	}
	// Every kind shows up in a long enough schedule.
	all := strings.Join(a, "\n")
	for _, w := range []string{"cut ", "heal", "kill ", "restart ", "pause ", "resume ", "loss ", "latency ", "drop ", "power ", "crash "} {
		if !strings.Contains(all, w) {
			t.Errorf("no %q call in %d calls", w, len(a))
		}
	}
}

func TestFaultKinds(t *testing.T) {
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) {
			reconfigs := 0
			calls := 20
			if kind == Reconfig {
				reconfigs, calls = 10, 0
			}
			c, r, rec := runUntil(t, []string{kind}, 3, calls, reconfigs)
			ops := rec.snapshot()
			for _, op := range ops {
				if op.Fault != kind {
					t.Fatalf("fault %s recorded with only %s enabled", op.Fault, kind)
				}
				if op.F == history.FStart && op.Error != "" {
					t.Fatalf("unexpected error: %+v", op)
				}
			}
			if kind != Reconfig {
				if got := r.snapshot(); len(got) != 0 {
					t.Fatalf("reconfigured with only %s enabled: %v", kind, got)
				}
				return
			}
			if got, _ := c.snapshot(); len(got) != 0 {
				t.Fatalf("cluster faults with only reconfig enabled: %v", got)
			}
			var sawABD, sawEC bool
			for _, op := range ops {
				if op.F == history.FStop && !strings.HasPrefix(op.Value, "c") {
					t.Fatalf("reconfig stop without the installed configuration: %+v", op)
				}
				if op.F != history.FStart {
					continue
				}
				f := strings.Fields(op.Value)
				var n int
				for _, x := range f {
					if strings.HasPrefix(x, "s") {
						n++
					}
				}
				if n < 3 {
					t.Fatalf("configuration of %d servers: %q", n, op.Value)
				}
				switch {
				case strings.Contains(op.Value, " abd"):
					sawABD = true
				case strings.Contains(op.Value, " ec k="):
					sawEC = true
					var k int
					fmt.Sscanf(f[len(f)-1], "k=%d", &k)
					if k < 1 || k > n-2 {
						t.Fatalf("ec k=%d for n=%d: %q", k, n, op.Value)
					}
				default:
					t.Fatalf("unknown dap in %q", op.Value)
				}
			}
			if !sawABD || !sawEC {
				t.Fatalf("reconfigurations did not switch between abd and ec: %v", r.snapshot())
			}
		})
	}
}

func TestPlanReconfigKeepsDownMinority(t *testing.T) {
	c, r := setup()
	n, err := New(Options{Faults: Kinds, Interval: time.Second}, c, r, 1)
	if err != nil {
		t.Fatal(err)
	}
	n.active[100] = &fault{id: 100, kind: Kill, desc: "s1 s2 s3", servers: []string{"s1", "s2", "s3"}}
	for i := 0; i < 200; i++ {
		p, err := n.planReconfig()
		if err != nil {
			t.Fatal(err)
		}
		down := 0
		for _, s := range p.servers {
			if s == "s1" || s == "s2" || s == "s3" {
				down++
			}
		}
		if len(p.servers) < 3 || down > (len(p.servers)-1)/2 {
			t.Fatalf("plan %v has %d down", p, down)
		}
		if p.dap == ares.EC && (p.k < 1 || p.k > len(p.servers)-2) {
			t.Fatalf("plan %v has a bad k", p)
		}
		if p.delay < 0 || p.delay > time.Second/2 {
			t.Fatalf("plan delay %v", p.delay)
		}
	}
	// With 5 of 7 down, only {2 up, 1 down} is left; with 6 down, nothing.
	n.active[101] = &fault{id: 101, kind: Pause, desc: "s4 s5", servers: []string{"s4", "s5"}}
	if p, err := n.planReconfig(); err != nil || !slices.Equal(p.servers, []string{"s1", "s6", "s7"}) &&
		!slices.Equal(p.servers, []string{"s2", "s6", "s7"}) && !slices.Equal(p.servers, []string{"s3", "s6", "s7"}) &&
		!slices.Equal(p.servers, []string{"s4", "s6", "s7"}) && !slices.Equal(p.servers, []string{"s5", "s6", "s7"}) {
		t.Fatalf("with 5 of 7 down: %v, %v", p, err)
	}
	n.active[102] = &fault{id: 102, kind: Pause, desc: "s6", servers: []string{"s6"}}
	if p, err := n.planReconfig(); err == nil {
		t.Fatalf("planned %v with 6 of 7 servers down", p)
	}
}

func TestUnsupportedLatency(t *testing.T) {
	c, r := setup()
	c.noNetem = true
	n, err := New(Options{Faults: []string{Latency, Kill}, Interval: time.Millisecond}, c, r, 5)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); n.Run(ctx, rec.record) }()
	for {
		calls, _ := c.snapshot()
		if len(calls) >= 30 && strings.Contains(strings.Join(calls, "\n"), "latency") {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-ran
	if err := n.HealAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	calls, _ := c.snapshot()
	tries := 0
	for _, call := range calls {
		if strings.HasPrefix(call, "latency") {
			tries++
		}
	}
	if tries != 1 {
		t.Fatalf("latency tried %d times after being unsupported", tries)
	}
	ops := rec.snapshot()
	if err := checkPairs(ops); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ops, func(op history.Op) bool { return op.Fault == Latency })
	if i < 0 || ops[i].F != history.FStart || !strings.Contains(ops[i].Error, "unsupported") {
		t.Fatalf("unsupported latency not recorded: %+v", ops)
	}
}

func TestSkipsAndErrors(t *testing.T) {
	t.Run("kill needs a minority", func(t *testing.T) {
		c := newFake(2, 2)
		ops := runFor(t, c, nil, []string{Kill}, 5)
		if calls, _ := c.snapshot(); len(calls) != 0 {
			t.Fatalf("killed in a 2-server cluster: %v", calls)
		}
		if ops[0].F != history.FStart || !strings.Contains(ops[0].Error, "minority") {
			t.Fatalf("skip not recorded with its reason: %+v", ops[0])
		}
	})
	t.Run("no clients", func(t *testing.T) {
		c := newFake(3, 0)
		ops := runFor(t, c, nil, []string{Partition}, 5)
		if !strings.Contains(ops[0].Error, "no links") {
			t.Fatalf("skip not recorded with its reason: %+v", ops[0])
		}
	})
	t.Run("cut fails", func(t *testing.T) {
		c := newFake(3, 2)
		c.failures["cut"] = 1
		ops := runFor(t, c, nil, []string{Partition}, 4)
		if !strings.Contains(ops[0].Error, "injected cut failure") || ops[1].F != history.FStop || ops[1].ID != ops[0].ID {
			t.Fatalf("failed cut not recorded and stopped: %+v", ops[:2])
		}
		if calls, _ := c.snapshot(); calls[1] != "heal" {
			t.Fatalf("failed cut not undone: %v", calls)
		}
	})
	t.Run("restart fails once", func(t *testing.T) {
		c := newFake(5, 2)
		c.failures["restart"] = 1
		ops := runFor(t, c, nil, []string{Kill}, 6)
		if ops[1].F != history.FStop || !strings.Contains(ops[1].Error, "healed after a failed attempt") {
			t.Fatalf("retried heal not recorded: %+v", ops[:2])
		}
	})
	t.Run("reconfig fails", func(t *testing.T) {
		c, r := setup()
		r.fail = true
		ops := runFor(t, c, r, []string{Reconfig}, 4)
		if ops[1].F != history.FStop || ops[1].Error != "no quorum" {
			t.Fatalf("failed reconfiguration not recorded: %+v", ops[:2])
		}
	})
}

// runFor runs a nemesis until it recorded lines lines, heals, and returns
// the lines, checked for pairing.
func runFor(t *testing.T, c *fakeCluster, r *fakeReconf, faults []string, lines int) []history.Op {
	t.Helper()
	return runForSeed(t, c, r, faults, 1, lines)
}

// runForSeed is runFor with the nemesis seeded by seed.
func runForSeed(t *testing.T, c *fakeCluster, r *fakeReconf, faults []string, seed int64, lines int) []history.Op {
	t.Helper()
	var rc Reconfigurer
	if r != nil {
		rc = r
	}
	n, err := New(Options{Faults: faults, Interval: time.Millisecond}, c, rc, seed)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); n.Run(ctx, rec.record) }()
	for len(rec.snapshot()) < lines {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-ran
	if err := n.HealAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	ops := rec.snapshot()
	if err := checkPairs(ops); err != nil {
		t.Fatal(err)
	}
	if err := c.clean(); err != nil {
		t.Fatal(err)
	}
	return ops
}

func TestHealAllMidFault(t *testing.T) {
	for _, kind := range []string{Partition, Kill, Pause, Loss, Latency, Drop, Skew} {
		t.Run(kind, func(t *testing.T) {
			c, r := setup()
			// A long hold: the fault is certainly active when Run stops.
			n, err := New(Options{Faults: []string{kind}, Interval: 10 * time.Millisecond}, c, r, 9)
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			ctx, cancel := context.WithCancel(context.Background())
			ran := make(chan struct{})
			go func() { defer close(ran); n.Run(ctx, rec.record) }()
			for len(n.Active()) == 0 {
				time.Sleep(100 * time.Microsecond)
			}
			active := n.Active()
			cancel()
			<-ran
			if !strings.HasPrefix(active[0], kind+": ") {
				t.Fatalf("Active() = %v", active)
			}
			if c.clean() == nil && len(n.Active()) > 0 {
				t.Fatal("an active fault left no trace in the cluster")
			}
			if err := n.HealAll(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := c.clean(); err != nil {
				t.Fatal(err)
			}
			if len(n.Active()) != 0 {
				t.Fatalf("active after HealAll: %v", n.Active())
			}
			if err := checkPairs(rec.snapshot()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestHealAllReportsFailure(t *testing.T) {
	c, r := setup()
	n, err := New(Options{Faults: []string{Pause}, Interval: 50 * time.Millisecond}, c, r, 9)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); n.Run(ctx, rec.record) }()
	for len(n.Active()) == 0 {
		time.Sleep(100 * time.Microsecond)
	}
	cancel()
	<-ran
	c.mu.Lock()
	c.failures["resume"] = 100
	c.mu.Unlock()
	if err := n.HealAll(context.Background()); err == nil || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("HealAll = %v; want the resume failure", err)
	}
	ops := rec.snapshot()
	if err := checkPairs(ops); err != nil {
		t.Fatal(err)
	}
	if last := ops[len(ops)-1]; !strings.Contains(last.Error, "heal failed") {
		t.Fatalf("failed heal not recorded: %+v", last)
	}
}
