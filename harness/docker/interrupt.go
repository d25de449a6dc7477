package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

// createTimeout bounds one create call to the engine. The call runs on a
// context that an interrupt does not cancel: a create the client gives up
// on is still carried out by the daemon, and the container (or network,
// or volume) it makes after the run has listed its resources for removal
// would be left behind for good.
const createTimeout = 60 * time.Second

// errClosing is what a create gets once RemoveOwn has begun: the process
// is about to exit, and anything made now would outlive it.
var errClosing = errors.New("docker backend: the controller is exiting (interrupted)")

// gate counts the create calls in flight in this process, so that the
// kill-at-once path (RemoveOwn) can wait for the daemon's answer to each
// before it lists what to remove, and refuse new ones after.
var gate createGate

// used says a cluster of this process has started talking to an engine:
// a process that only ran local clusters has nothing there to remove.
var used atomic.Bool

type createGate struct {
	mu       sync.Mutex
	inflight int
	closed   bool
	idle     chan struct{} // closed when inflight drops to 0 after close
}

func (g *createGate) enter() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return errClosing
	}
	g.inflight++
	return nil
}

func (g *createGate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight--
	if g.inflight == 0 && g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
}

// closeAndWait refuses every later create and waits (until ctx ends) for
// those in flight to be answered; it reports how many were still
// unanswered when ctx ended.
func (g *createGate) closeAndWait(ctx context.Context) int {
	g.mu.Lock()
	g.closed = true
	if g.inflight == 0 {
		g.mu.Unlock()
		return 0
	}
	if g.idle == nil {
		g.idle = make(chan struct{})
	}
	idle := g.idle
	g.mu.Unlock()
	select {
	case <-idle:
		return 0
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.inflight
	}
}

// create runs one call that makes a resource on the engine. An interrupted
// set-up starts no new create, but one already sent is waited for (on a
// context ctx's cancel does not reach, bounded by createTimeout), so that
// what the daemon makes is known to exist when Stop lists the run's
// resources. The answer is ctx's error if ctx ended meanwhile, so that the
// set-up goes no further; Stop removes what was made.
func create(ctx context.Context, call func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := gate.enter(); err != nil {
		return err
	}
	defer gate.leave()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), createTimeout)
	defer cancel()
	if err := call(cctx); err != nil {
		return err
	}
	return ctx.Err()
}

// RemoveOwn removes every container, network and volume this process made
// on the engine (found by its owner label, of every run it started) and
// the host iptables rules of those runs. It is the kill-at-once path of a
// repeated interrupt: the process exits right after, so no orderly Stop
// will run. It first refuses new creates and waits (bounded by ctx) for
// those in flight, so that nothing the daemon makes afterwards escapes the
// listing. Nothing to remove, or no engine at all, is no error.
func RemoveOwn(ctx context.Context, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if n := gate.closeAndWait(ctx); n > 0 {
		log.Warn("creates still unanswered; removing what is there", "inflight", n)
	}
	if !used.Load() {
		return nil // no cluster of this process ever talked to an engine
	}
	cli, err := NewDockerClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	return removeOwned(ctx, cli, owner(), log)
}

// removeOwned removes the resources whose owner label is own, and the host
// rules of their runs.
func removeOwned(ctx context.Context, cli client.APIClient, own string, log *slog.Logger) error {
	f := filters.NewArgs(
		filters.Arg("label", LabelProject+"="+ProjectValue),
		filters.Arg("label", LabelOwner+"="+own),
	)
	runs := map[string]bool{}
	if ctrs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f}); err == nil {
		for _, c := range ctrs {
			runs[c.Labels[LabelRun]] = true
		}
	}
	if nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f}); err == nil {
		for _, n := range nets {
			runs[n.Labels[LabelRun]] = true
		}
	}
	// The orderly Stop may be removing the same resources at this
	// moment: the engine then refuses ours ("removal already in
	// progress", a network whose containers are not gone yet). What
	// counts is that nothing is left, so list again until nothing is,
	// or ctx ends.
	var err error
	for {
		err = removeRun(ctx, cli, f, "", log)
		left, lerr := ownedLeft(ctx, cli, f)
		if lerr == nil && left == 0 {
			err = nil
			break
		}
		if ctx.Err() != nil {
			err = errors.Join(err, lerr, fmt.Errorf("%d resources still there: %w", left, ctx.Err()))
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if rerr := removeHostRules(ctx, runs, log); rerr != nil {
		err = errors.Join(err, rerr)
	}
	if err != nil {
		return fmt.Errorf("docker: remove this controller's resources: %w", err)
	}
	return nil
}

// removeHostRules removes the host rules whose comment names one of runs.
// The backend puts rules only in agents' namespaces, which die with the
// containers; this is the same belt-and-braces check Clean makes, limited
// to this process's runs so that another live run's rules stay.
func removeHostRules(ctx context.Context, runs map[string]bool, log *slog.Logger) error {
	if len(runs) == 0 {
		return nil
	}
	if _, err := exec.LookPath("iptables-save"); err != nil {
		return nil
	}
	out, err := exec.CommandContext(ctx, "iptables-save").Output()
	if err != nil {
		return nil // not root, or no tables: nothing of ours can be there
	}
	var errs []error
	for _, r := range findProjectRules(string(out)) {
		if !runs[ruleRun(r)] {
			continue
		}
		args := r.deleteArgs()
		log.Info("removing an iptables rule of this run on the host", "rule", args)
		if b, err := exec.CommandContext(ctx, "iptables", args...).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("iptables %v: %w: %s", args, err, b))
		}
	}
	return errors.Join(errs...)
}

// ruleRun is the run id in a rule's comment ("ares-torture:RUN what").
func ruleRun(r hostRule) string {
	for i, a := range r.args {
		if a == "--comment" && i+1 < len(r.args) {
			id, _, _ := strings.Cut(strings.TrimPrefix(r.args[i+1], CommentPrefix), " ")
			return id
		}
	}
	return ""
}

// ownedLeft counts the containers, networks and volumes matching f.
func ownedLeft(ctx context.Context, cli client.APIClient, f filters.Args) (int, error) {
	ctrs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return 0, err
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return 0, err
	}
	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return 0, err
	}
	return len(ctrs) + len(nets) + len(vols.Volumes), nil
}
