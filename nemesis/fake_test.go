package nemesis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/history"
)

// fakeCluster records every call and keeps the fault state, and checks the
// safety limit on every kill and pause.
type fakeCluster struct {
	mu       sync.Mutex
	servers  []string
	clients  []string
	members  func() []string
	calls    []string
	cut      map[Link]bool
	loss     map[Link]float64
	latency  map[Link]time.Duration
	drop     map[Link]float64
	killed   map[string]bool
	paused   map[string]bool
	failures map[string]int // call name -> times it still fails
	noNetem  bool
	problems []string
}

func newFake(nServers, nClients int) *fakeCluster {
	f := &fakeCluster{cut: map[Link]bool{}, loss: map[Link]float64{}, latency: map[Link]time.Duration{},
		drop: map[Link]float64{}, killed: map[string]bool{}, paused: map[string]bool{}, failures: map[string]int{}}
	for i := 1; i <= nServers; i++ {
		f.servers = append(f.servers, fmt.Sprintf("s%d", i))
	}
	for i := 0; i < nClients; i++ {
		f.clients = append(f.clients, fmt.Sprintf("c%d", i))
	}
	f.members = func() []string { return f.servers }
	return f
}

func (f *fakeCluster) log(call string, args ...any) error {
	f.calls = append(f.calls, strings.TrimSpace(call+" "+fmt.Sprint(args...)))
	if f.failures[call] > 0 {
		f.failures[call]--
		return fmt.Errorf("injected %s failure", call)
	}
	return nil
}

func (f *fakeCluster) Servers() []string { return slices.Clone(f.servers) }
func (f *fakeCluster) Clients() []string { return slices.Clone(f.clients) }

func (f *fakeCluster) Cut(_ context.Context, links []Link) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.log("cut", linkList(links)); err != nil {
		return err
	}
	for _, l := range links {
		f.cut[l] = true
	}
	return nil
}

func (f *fakeCluster) Heal(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.log("heal"); err != nil {
		return err
	}
	clear(f.cut)
	clear(f.loss)
	clear(f.latency)
	clear(f.drop)
	return nil
}

func (f *fakeCluster) checkDownLocked(s string) {
	if f.killed[s] || f.paused[s] {
		f.problems = append(f.problems, s+" taken down twice")
	}
	m := f.members()
	down := 1
	for _, x := range m {
		if x != s && (f.killed[x] || f.paused[x]) {
			down++
		}
	}
	if down > (len(m)-1)/2 {
		f.problems = append(f.problems, fmt.Sprintf("%d of %d members down after %s", down, len(m), s))
	}
}

func (f *fakeCluster) Kill(_ context.Context, s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.log("kill", s); err != nil {
		return err
	}
	f.checkDownLocked(s)
	f.killed[s] = true
	return nil
}

func (f *fakeCluster) PowerLoss(_ context.Context, s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.log("power", s); err != nil {
		return err
	}
	f.checkDownLocked(s)
	f.killed[s] = true
	return nil
}

func (f *fakeCluster) CrashClient(_ context.Context, c string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Contains(f.clients, c) {
		f.problems = append(f.problems, "crash of unknown client "+c)
	}
	return f.log("crash", c)
}

func (f *fakeCluster) Restart(_ context.Context, s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.log("restart", s); err != nil {
		return err
	}
	if !f.killed[s] {
		f.problems = append(f.problems, "restart of live "+s)
	}
	delete(f.killed, s)
	return nil
}

func (f *fakeCluster) Pause(_ context.Context, s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.log("pause", s); err != nil {
		return err
	}
	f.checkDownLocked(s)
	f.paused[s] = true
	return nil
}

func (f *fakeCluster) Resume(_ context.Context, s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.log("resume", s); err != nil {
		return err
	}
	if !f.paused[s] {
		f.problems = append(f.problems, "resume of running "+s)
	}
	delete(f.paused, s)
	return nil
}

func (f *fakeCluster) SetLoss(_ context.Context, links []Link, p float64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.log("loss", p, " ", linkList(links)); err != nil {
		return err
	}
	if p < 0.1 || p > 0.5 {
		f.problems = append(f.problems, fmt.Sprintf("loss %v out of range", p))
	}
	for _, l := range links {
		f.loss[l] = p
	}
	return nil
}

func (f *fakeCluster) SetLatency(_ context.Context, links []Link, d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.log("latency", d, " ", linkList(links)); err != nil {
		return err
	}
	if f.noNetem {
		return fmt.Errorf("no netem qdisc: %w", ErrUnsupported)
	}
	if d < 50*time.Millisecond || d > 300*time.Millisecond {
		f.problems = append(f.problems, fmt.Sprintf("latency %v out of range", d))
	}
	for _, l := range links {
		f.latency[l] = d
	}
	return nil
}

func (f *fakeCluster) SetDrop(_ context.Context, links []Link, p float64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.log("drop", p, " ", linkList(links)); err != nil {
		return err
	}
	if p < 0.15 || p > 0.35 {
		f.problems = append(f.problems, fmt.Sprintf("drop %v out of range", p))
	}
	for _, l := range links {
		f.drop[l] = p
	}
	return nil
}

// snapshot returns the calls so far and any safety problems.
func (f *fakeCluster) snapshot() ([]string, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls), slices.Clone(f.problems)
}

// clean reports what is still faulted.
func (f *fakeCluster) clean() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.cut)+len(f.loss)+len(f.latency)+len(f.drop)+len(f.killed)+len(f.paused) > 0 {
		return fmt.Errorf("left faulted: cut %d, loss %d, latency %d, drop %d, killed %v, paused %v",
			len(f.cut), len(f.loss), len(f.latency), len(f.drop), f.killed, f.paused)
	}
	return nil
}

// fakeReconf installs whatever it is asked to and remembers the calls.
type fakeReconf struct {
	mu      sync.Mutex
	members []string
	calls   []string
	fail    bool
}

func (r *fakeReconf) Reconfig(_ context.Context, servers []string, dap ares.DAP, k int) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf("%v %s %d", servers, dap, k))
	if r.fail {
		return "", errors.New("no quorum")
	}
	r.members = slices.Clone(servers)
	return fmt.Sprintf("c%d%v", len(r.calls), servers), nil
}

func (r *fakeReconf) Members() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.members)
}

func (r *fakeReconf) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// recorder collects history lines.
type recorder struct {
	mu  sync.Mutex
	ops []history.Op
}

func (r *recorder) record(op history.Op) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
}

func (r *recorder) snapshot() []history.Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ops)
}

// checkPairs reports lines that are not well-formed start/stop pairs.
func checkPairs(ops []history.Op) error {
	open := map[int]history.Op{}
	closed := map[int]bool{}
	for _, op := range ops {
		if op.Type != history.Nemesis || op.ID < 1 || op.Time != 0 || op.Fault == "" {
			return fmt.Errorf("bad nemesis line %+v", op)
		}
		switch op.F {
		case history.FStart:
			if _, ok := open[op.ID]; ok || closed[op.ID] {
				return fmt.Errorf("id %d started twice", op.ID)
			}
			open[op.ID] = op
		case history.FStop:
			st, ok := open[op.ID]
			if !ok {
				return fmt.Errorf("stop without start: %+v", op)
			}
			if st.Fault != op.Fault {
				return fmt.Errorf("id %d: start %s, stop %s", op.ID, st.Fault, op.Fault)
			}
			delete(open, op.ID)
			closed[op.ID] = true
		default:
			return fmt.Errorf("bad f in %+v", op)
		}
	}
	if len(open) > 0 {
		return fmt.Errorf("%d faults never stopped: %v", len(open), open)
	}
	return nil
}
