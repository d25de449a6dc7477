package nemesis

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// serverFault kills (kind Kill) or pauses (kind Pause) up to a minority of
// the members; healing restarts or resumes them.
type serverFault struct{ kind string }

func (serverFault) onLinks() bool { return false }

func (k serverFault) start(ctx context.Context, n *Nemesis) *fault {
	return n.applyServers(ctx, k.kind)
}

func (k serverFault) heal(ctx context.Context, n *Nemesis, f *fault) error {
	n.mu.Lock()
	todo := slices.Clone(f.servers)
	n.mu.Unlock()
	var left []string
	var errs []error
	for _, s := range todo {
		var e error
		if k.kind == Kill {
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
	if kind == Kill {
		return "restart"
	}
	return "resume"
}
