package nemesis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/deadline"
	"github.com/ares-torture/torture/history"
)

// Options configure a nemesis.
type Options struct {
	// Faults are the enabled fault kinds (see Parse); empty means none.
	Faults []string
	// Interval is both the quiet time before each fault and how long a
	// fault is held. It must be positive when any fault is enabled.
	Interval time.Duration
	// Logger receives heal failures and skipped faults; nil discards.
	Logger *slog.Logger
}

// Nemesis injects faults on a schedule. Run drives it; HealAll and Active
// may be called from other goroutines.
//
// The schedule is a sequence of cycles. Each cycle waits Interval, then
// starts one fault of the enabled kinds other than reconfig and crash (the
// primary fault), holds it for Interval and heals it. Primary kinds are
// dealt like cards, a seeded shuffle per round, so every kind comes once in
// each round of as many cycles as there are kinds; a kind the cluster
// cannot inject is recorded as such once and replaced in its cycle. When
// reconfig is enabled, a reconfiguration also runs in a cycle (in every
// cycle if it is the only kind, otherwise in one of every two, the order
// shuffled per pair), starting at
// a random point in the first half of the hold, concurrently with the
// primary fault: reconfiguration under faults is where bugs hide. The cycle
// ends when both have ended, so at most one primary fault and one
// reconfiguration are active at a time. Every random choice comes from the
// seed, in a fixed order, so the same seed and the same cluster answers give
// the same schedule.
//
// History lines: a start is recorded once a fault is in place (a
// reconfiguration's start just before its call), its stop once it is healed,
// both with the same ID and the description of the targets in Value (the
// stop of a reconfiguration carries the description of the configuration
// installed). A fault that cannot be applied (no servers, no budget, an
// error, an unsupported fault) gets a start with the reason in Error and an
// immediate stop, so starts and stops always pair. Time is left 0: the
// record callback stamps it.
type Nemesis struct {
	opts Options
	c    Cluster
	r    Reconfigurer
	log  *slog.Logger
	rng  *rand.Rand // used by the Run goroutine only

	primary  []string     // enabled kinds except reconfig, minus unsupported ones
	steered  []string     // the last quorum steered to (latency steering)
	kinds    deck[string] // primary kinds, each once per round
	reconfT  deck[bool]   // whether a cycle reconfigures (beside a primary)
	crashT   deck[bool]   // whether a cycle crashes a client (beside others)
	reconfig bool
	crash    bool // client crashes come beside the primary fault
	links    bool // a link fault kind is enabled

	opMu   sync.Mutex // serializes applying and healing faults
	recMu  sync.Mutex // serializes record calls
	mu     sync.Mutex // guards the fields below
	nextID int
	active map[int]*fault
	record func(history.Op)
}

// fault is an active fault.
type fault struct {
	id      int
	kind    string
	desc    string
	servers []string // killed or paused servers not yet restored
	healErr error    // the last failed heal attempt, if any
}

// New returns a nemesis over cluster c and reconfigurer r (needed only for
// the reconfig fault; when nil, Members is every server of c).
func New(opts Options, c Cluster, r Reconfigurer, seed int64) (*Nemesis, error) {
	n := &Nemesis{opts: opts, c: c, r: r, log: opts.Logger, active: map[int]*fault{}}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	seen := map[string]bool{}
	for _, k := range opts.Faults {
		if !slices.Contains(Kinds, k) {
			return nil, fmt.Errorf("unknown fault %q (known: %s)", k, strings.Join(Kinds, ", "))
		}
		if seen[k] {
			continue
		}
		seen[k] = true
	}
	// Canonical order keeps the schedule independent of the order given.
	for _, k := range Kinds {
		switch {
		case !seen[k]:
		case k == Reconfig:
			n.reconfig = true
		case k == Crash:
			n.crash = true
		default:
			n.primary = append(n.primary, k)
			n.links = n.links || faultKinds[k].onLinks()
		}
	}
	if len(seen) > 0 {
		if c == nil {
			return nil, errors.New("nemesis: faults are enabled but there is no cluster")
		}
		if opts.Interval <= 0 {
			return nil, fmt.Errorf("nemesis interval must be positive, got %v", opts.Interval)
		}
	}
	if n.reconfig && r == nil {
		return nil, errors.New("the reconfig fault needs a reconfigurer")
	}
	// A constant second word separates the nemesis stream from the
	// workloads' (seed, client) streams.
	n.rng = rand.New(rand.NewPCG(uint64(seed), 0x6e656d65736973))
	return n, nil
}

// Active lists the active faults as "kind: targets", oldest first.
func (n *Nemesis) Active() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, f := range n.sortedLocked() {
		out = append(out, f.kind+": "+f.desc)
	}
	return out
}

func (n *Nemesis) sortedLocked() []*fault {
	fs := make([]*fault, 0, len(n.active))
	for _, f := range n.active {
		fs = append(fs, f)
	}
	slices.SortFunc(fs, func(a, b *fault) int { return a.id - b.id })
	return fs
}

// Run injects faults until ctx ends, passing every history line to record
// (which may be nil). It returns once its reconfiguration, if any, has
// returned; faults active at that point stay in place: call HealAll with a
// live context afterwards.
func (n *Nemesis) Run(ctx context.Context, record func(history.Op)) {
	n.mu.Lock()
	n.record = record
	n.mu.Unlock()
	if len(n.primary) == 0 && !n.reconfig && !n.crash {
		<-ctx.Done()
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		if !sleep(ctx, n.opts.Interval) {
			return
		}
		n.opMu.Lock()
		// Anything still active here failed to heal: retry, and start no
		// new primary fault on top of it.
		stuck := n.healStuckLocked(ctx)
		var cur *fault
		if !stuck {
			cur = n.startPrimaryLocked(ctx)
		}
		n.opMu.Unlock()
		done := n.launchReconfig(ctx, &wg)
		if !n.crashDuringHold(ctx) {
			return
		}
		if cur != nil {
			n.opMu.Lock()
			if n.isActive(cur) {
				_ = n.healLocked(ctx, cur)
			}
			n.opMu.Unlock()
		}
		if done != nil {
			select {
			case <-done:
			case <-ctx.Done():
				return
			}
		}
	}
}

// HealAll heals every active fault: it heals all links (if any link fault
// is enabled), restarts killed and
// resumes paused servers, and records the stops. A fault that still fails to
// heal is recorded stopped with the error and reported. A reconfiguration in
// flight cannot be undone and is left alone; call HealAll after Run returned.
func (n *Nemesis) HealAll(ctx context.Context) error {
	if n.c == nil {
		return nil
	}
	n.opMu.Lock()
	defer n.opMu.Unlock()
	// Heal links whenever link faults are enabled, even with none known to
	// be active: a fault whose apply failed may have left part of itself.
	var linkErr error
	if n.links {
		linkErr = n.c.Heal(ctx)
	}
	var errs []error
	if linkErr != nil {
		errs = append(errs, fmt.Errorf("heal links: %w", linkErr))
	}
	n.mu.Lock()
	fs := n.sortedLocked()
	n.mu.Unlock()
	for _, f := range fs {
		var err error
		switch {
		case f.kind == Reconfig:
			continue
		case faultKinds[f.kind].onLinks():
			err = linkErr
			if err == nil {
				n.finish(f)
			}
		default:
			err = n.healLocked(ctx, f)
		}
		if err != nil {
			if f.kind == Kill || f.kind == Pause || f.kind == Power {
				errs = append(errs, err)
			}
			n.mu.Lock()
			delete(n.active, f.id)
			n.mu.Unlock()
			n.emit(history.Op{Type: history.Nemesis, F: history.FStop, Fault: f.kind, ID: f.id, Value: f.desc,
				Error: "heal failed: " + err.Error()})
		}
	}
	return errors.Join(errs...)
}

// members returns the servers of the current configuration, sorted and
// without duplicates.
func (n *Nemesis) members() []string {
	var m []string
	if n.r != nil {
		m = n.r.Members()
	} else {
		m = n.c.Servers()
	}
	m = slices.Clone(m)
	slices.Sort(m)
	return slices.Compact(m)
}

// down returns the servers killed or paused by active faults.
func (n *Nemesis) down() map[string]bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	d := map[string]bool{}
	for _, f := range n.active {
		for _, s := range f.servers {
			d[s] = true
		}
	}
	return d
}

func (n *Nemesis) isActive(f *fault) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.active[f.id] == f
}

func (n *Nemesis) newID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	// IDs start at 1: the history omits a zero ID.
	n.nextID++
	return n.nextID
}

func (n *Nemesis) emit(op history.Op) {
	n.mu.Lock()
	rec := n.record
	n.mu.Unlock()
	if rec == nil {
		return
	}
	n.recMu.Lock()
	defer n.recMu.Unlock()
	rec(op)
}

// NotApplied begins the error of a fault's start line when the fault was
// never applied (no target, an unsupported kind): it reached nothing.
const NotApplied = "not applied: "

// skip records a fault that could not be applied: a start with the reason
// and an immediate stop.
func (n *Nemesis) skip(kind, desc, reason string) {
	id := n.newID()
	n.log.Info("nemesis fault skipped", "fault", kind, "targets", desc, "reason", reason)
	// The prefix tells the checker the fault never took effect: the two
	// lines get two timestamps on a real clock.
	n.emit(history.Op{Type: history.Nemesis, F: history.FStart, Fault: kind, ID: id, Value: desc, Error: NotApplied + reason})
	n.emit(history.Op{Type: history.Nemesis, F: history.FStop, Fault: kind, ID: id, Value: desc})
}

// begin registers an applied fault and records its start.
func (n *Nemesis) begin(kind, desc string, servers []string, applyErr error) *fault {
	f := &fault{id: n.newID(), kind: kind, desc: desc, servers: servers}
	n.mu.Lock()
	n.active[f.id] = f
	n.mu.Unlock()
	op := history.Op{Type: history.Nemesis, F: history.FStart, Fault: kind, ID: f.id, Value: desc}
	if applyErr != nil {
		op.Error = applyErr.Error()
	}
	n.emit(op)
	return f
}

// finish records a healed fault's stop.
func (n *Nemesis) finish(f *fault) {
	n.mu.Lock()
	delete(n.active, f.id)
	prev := f.healErr
	n.mu.Unlock()
	op := history.Op{Type: history.Nemesis, F: history.FStop, Fault: f.kind, ID: f.id, Value: f.desc}
	if prev != nil {
		op.Error = "healed after a failed attempt: " + prev.Error()
	}
	n.emit(op)
}

// healLocked heals one fault (opMu held). On success it records the stop; on
// failure the fault stays active with what is left to heal.
func (n *Nemesis) healLocked(ctx context.Context, f *fault) error {
	if err := faultKinds[f.kind].heal(ctx, n, f); err != nil {
		if deadline.Err(ctx) == nil {
			n.mu.Lock()
			f.healErr = err
			n.mu.Unlock()
		}
		n.log.Warn("nemesis heal failed", "fault", f.kind, "id", f.id, "err", err)
		return err
	}
	n.finish(f)
	return nil
}

// healStuckLocked retries every active fault other than a reconfiguration
// and reports whether any is still active.
func (n *Nemesis) healStuckLocked(ctx context.Context) bool {
	n.mu.Lock()
	fs := n.sortedLocked()
	n.mu.Unlock()
	stuck := false
	for _, f := range fs {
		if f.kind == Reconfig {
			continue
		}
		if n.healLocked(ctx, f) != nil {
			stuck = true
		}
	}
	return stuck
}

// startPrimaryLocked draws and applies the cycle's primary fault (opMu
// held). It returns the fault to heal at the end of the hold, or nil.
func (n *Nemesis) startPrimaryLocked(ctx context.Context) *fault {
	for len(n.primary) > 0 {
		kind := n.kinds.draw(n.rng, n.primary)
		f := faultKinds[kind].start(ctx, n)
		if f != nil || slices.Contains(n.primary, kind) {
			return f
		}
		// The cluster cannot inject this kind: that took no time, so the
		// cycle gets another in its place.
	}
	return nil
}

func (n *Nemesis) pickLinks(kind string) ([]Link, string, bool) {
	clients, members := n.c.Clients(), n.members()
	if len(clients) == 0 || len(members) == 0 {
		n.skip(kind, "", fmt.Sprintf("no links (%d clients, %d servers)", len(clients), len(members)))
		return nil, "", false
	}
	links := randomLinks(n.rng, clients, members)
	return links, linkList(links), true
}

// applyLinks applies a link fault. A fault that fails is undone at once
// (healing whatever part of it took effect); an unsupported one is recorded
// as such and its kind is not drawn again.
func (n *Nemesis) applyLinks(ctx context.Context, kind, desc string, apply func() error) *fault {
	err := apply()
	if err == nil {
		return n.begin(kind, desc, nil, nil)
	}
	if errors.Is(err, ErrUnsupported) {
		n.unsupported(kind, err.Error())
		return nil
	}
	f := n.begin(kind, desc, nil, err)
	_ = n.healLocked(ctx, f)
	return nil
}

// unsupported records a kind the cluster cannot inject and draws it no
// more.
func (n *Nemesis) unsupported(kind, why string) {
	n.primary = slices.DeleteFunc(n.primary, func(k string) bool { return k == kind })
	n.skip(kind, "", "unsupported: "+why)
}

// applyServers kills or pauses up to a minority of the members, counting
// servers that are already down.
func (n *Nemesis) applyServers(ctx context.Context, k serverFault) *fault {
	kind := k.kind
	members := n.members()
	down := n.down()
	var candidates []string
	downIn := 0
	for _, s := range members {
		if down[s] {
			downIn++
		} else {
			candidates = append(candidates, s)
		}
	}
	budget := (len(members)-1)/2 - downIn
	if budget < 1 {
		n.skip(kind, "", fmt.Sprintf("no server may go down: %d members, %d down, a minority is at most %d",
			len(members), downIn, (len(members)-1)/2))
		return nil
	}
	victims := shuffled(n.rng, candidates)[:1+n.rng.IntN(budget)]
	slices.Sort(victims)
	var done []string
	var errs []error
	for _, s := range victims {
		if err := k.down(ctx, n, s); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", kind, s, err))
			continue
		}
		done = append(done, s)
	}
	f := n.begin(kind, strings.Join(victims, " "), done, errors.Join(errs...))
	if len(done) == 0 {
		n.finish(f)
		return nil
	}
	return f
}

// reconfigPlan is a reconfiguration drawn by the Run goroutine.
type reconfigPlan struct {
	servers []string
	dap     ares.DAP
	k       int
	delay   time.Duration
}

func (p reconfigPlan) String() string {
	s := strings.Join(p.servers, " ") + " " + string(p.dap)
	if p.dap == ares.EC {
		s += fmt.Sprintf(" k=%d", p.k)
	}
	return s
}

// planReconfig draws a configuration of at least 3 servers of the pool in
// which servers that are down (killed or paused) stay a minority, so the
// new configuration can make progress once partitions heal.
func (n *Nemesis) planReconfig() (reconfigPlan, error) {
	pool := slices.Clone(n.c.Servers())
	slices.Sort(pool)
	pool = slices.Compact(pool)
	down := n.down()
	var up, dn []string
	for _, s := range pool {
		if down[s] {
			dn = append(dn, s)
		} else {
			up = append(up, s)
		}
	}
	var sizes []int
	for size := 3; size <= len(pool); size++ {
		if len(up)+min(len(dn), (size-1)/2) >= size {
			sizes = append(sizes, size)
		}
	}
	if len(sizes) == 0 {
		return reconfigPlan{}, fmt.Errorf("no configuration of at least 3 servers with a minority down: pool of %d, %d down", len(pool), len(dn))
	}
	size := sizes[n.rng.IntN(len(sizes))]
	lo, hi := max(0, size-len(up)), min(len(dn), (size-1)/2)
	d := lo + n.rng.IntN(hi-lo+1)
	servers := append(shuffled(n.rng, up)[:size-d], shuffled(n.rng, dn)[:d]...)
	slices.Sort(servers)
	p := reconfigPlan{servers: servers, dap: ares.ABD}
	if n.rng.IntN(2) == 1 {
		// 1 <= k <= n-2: the EC quorum ⌈(n+k)/2⌉ then leaves room for at
		// least one crash.
		p.dap, p.k = ares.EC, 1+n.rng.IntN(size-2)
	}
	p.delay = time.Duration(n.rng.Int64N(int64(n.opts.Interval/2) + 1))
	return p, nil
}

// crashDuringHold holds the cycle's fault for Interval and, when client
// crashes are enabled, crashes a client at a random point of the hold: a
// crash is over at once, so it comes beside the primary fault rather than
// taking its place (every cycle if it is the only kind, else half of
// them). It reports whether ctx is still live.
func (n *Nemesis) crashDuringHold(ctx context.Context) bool {
	if !n.crash || (len(n.primary) > 0 || n.reconfig) && !n.crashT.draw(n.rng, halves) {
		return sleep(ctx, n.opts.Interval)
	}
	at := time.Duration(n.rng.Int64N(int64(n.opts.Interval)))
	if !sleep(ctx, at) {
		return false
	}
	n.opMu.Lock()
	crashFault{}.start(ctx, n)
	n.opMu.Unlock()
	return sleep(ctx, n.opts.Interval-at)
}

// launchReconfig decides whether this cycle reconfigures and, if so, runs
// the reconfigurations in goroutines of their own: one, or with a
// MultiReconfigurer up to one per reconfiguring client, racing for the
// same next configuration. It returns a channel closed when they have all
// ended, or nil.
func (n *Nemesis) launchReconfig(ctx context.Context, wg *sync.WaitGroup) <-chan struct{} {
	if !n.reconfig || (len(n.primary) > 0 && !n.reconfT.draw(n.rng, halves)) {
		return nil
	}
	racers := 1
	mr, multi := n.r.(MultiReconfigurer)
	if multi && mr.Reconfigurers() > 1 {
		racers = 1 + n.rng.IntN(mr.Reconfigurers())
	}
	var plans []reconfigPlan
	for range racers {
		p, err := n.planReconfig()
		if err != nil {
			n.skip(Reconfig, "", err.Error())
			return nil
		}
		plans = append(plans, p)
	}
	done := make(chan struct{})
	var all sync.WaitGroup
	for who, p := range plans {
		id := n.newID()
		all.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer all.Done()
			if !sleep(ctx, p.delay) {
				return
			}
			desc := p.String()
			f := &fault{id: id, kind: Reconfig, desc: desc}
			n.mu.Lock()
			n.active[id] = f
			n.mu.Unlock()
			n.emit(history.Op{Type: history.Nemesis, F: history.FStart, Fault: Reconfig, ID: id, Value: desc})
			var got string
			var err error
			if multi {
				got, err = mr.ReconfigBy(ctx, who, p.servers, p.dap, p.k)
			} else {
				got, err = n.r.Reconfig(ctx, p.servers, p.dap, p.k)
			}
			n.mu.Lock()
			delete(n.active, id)
			n.mu.Unlock()
			stop := history.Op{Type: history.Nemesis, F: history.FStop, Fault: Reconfig, ID: id, Value: got}
			if err != nil {
				stop.Error = err.Error()
				// Expected under faults (a partition, a kill): one short
				// line; the whole chain is in the history's stop line.
				n.log.Warn("nemesis reconfiguration failed (expected under faults; full error in the history)",
					"id", id, "target", desc, "err", ShortError(err))
				n.log.Debug("nemesis reconfiguration failed", "id", id, "target", desc, "err", err)
			}
			n.emit(stop)
		}()
	}
	go func() {
		all.Wait()
		close(done)
	}()
	return done
}

// shortErrorRunes bounds ShortError.
const shortErrorRunes = 120

// ShortError is err's first line cut at 120 characters (with "…" when
// cut): a log line's worth of an error whose whole chain (gRPC dial errors
// of every server) runs to hundreds of characters.
func ShortError(err error) string {
	if err == nil {
		return ""
	}
	s, _, more := strings.Cut(err.Error(), "\n")
	if r := []rune(s); len(r) > shortErrorRunes {
		s, more = string(r[:shortErrorRunes]), true
	}
	if more {
		s += "…"
	}
	return s
}

// sleep waits d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	return deadline.Sleep(ctx, d) == nil
}
