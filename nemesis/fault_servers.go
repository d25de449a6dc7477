package nemesis

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// serverFault kills (kind Kill), cuts the power of (kind Power) or pauses
// (kind Pause) up to a minority of the members; healing restarts or
// resumes them.
type serverFault struct{ kind string }

func (serverFault) onLinks() bool { return false }

func (k serverFault) start(ctx context.Context, n *Nemesis) *fault {
	if _, ok := n.c.(PowerLosser); k.kind == Power && !ok {
		n.unsupported(Power, "this backend cannot cut a server's power (a kill keeps the page cache)")
		return nil
	}
	return n.applyServers(ctx, k)
}

func (k serverFault) heal(ctx context.Context, n *Nemesis, f *fault) error {
	n.mu.Lock()
	todo := slices.Clone(f.servers)
	n.mu.Unlock()
	var left []string
	var errs []error
	for _, s := range todo {
		var e error
		if k.kind != Pause {
			e = n.c.Restart(ctx, s)
		} else {
			e = n.c.Resume(ctx, s)
		}
		if e != nil {
			left = append(left, s)
			errs = append(errs, fmt.Errorf("%s %s: %w", restoreVerb(k.kind), s, e))
		}
	}
	n.mu.Lock()
	f.servers = left
	n.mu.Unlock()
	return errors.Join(errs...)
}

func restoreVerb(kind string) string {
	if kind == Pause {
		return "resume"
	}
	return "restart"
}

// down puts one server down the kind's way.
func (k serverFault) down(ctx context.Context, n *Nemesis, server string) error {
	switch k.kind {
	case Kill:
		return n.c.Kill(ctx, server)
	case Pause:
		return n.c.Pause(ctx, server)
	}
	pl, ok := n.c.(PowerLosser)
	if !ok {
		return fmt.Errorf("power loss: %w", ErrUnsupported)
	}
	return pl.PowerLoss(ctx, server)
}
