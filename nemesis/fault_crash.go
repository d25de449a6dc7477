package nemesis

import (
	"context"
	"slices"
)

// crashFault crashes one client in the middle of an operation. The crash
// is over at once (the client restarts as a new process), so its start and
// stop are recorded together.
type crashFault struct{}

func (crashFault) onLinks() bool { return false }

func (crashFault) start(ctx context.Context, n *Nemesis) *fault {
	cc, ok := n.c.(ClientCrasher)
	if !ok {
		n.unsupported(Crash, "this backend cannot crash a client")
		return nil
	}
	clients := slices.Clone(n.c.Clients())
	slices.Sort(clients)
	if len(clients) == 0 {
		n.skip(Crash, "", "no clients")
		return nil
	}
	victim := clients[n.rng.IntN(len(clients))]
	f := n.begin(Crash, victim, nil, cc.CrashClient(ctx, victim))
	n.finish(f)
	return nil
}

func (crashFault) heal(context.Context, *Nemesis, *fault) error { return nil }
