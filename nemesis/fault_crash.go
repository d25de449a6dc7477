package nemesis

import (
	"context"
	"slices"
)

// crashFault crashes one client in the middle of an operation. The crash
// is over at once (the client restarts as a new process), so its start and
// stop are recorded together, and it is not a primary fault
// (Nemesis.crashDuringHold).
type crashFault struct{}

func (crashFault) start(ctx context.Context, n *Nemesis) {
	cc, ok := n.c.(ClientCrasher)
	if !ok {
		n.crash = false
		n.skip(Crash, "", "unsupported: this backend cannot crash a client")
		return
	}
	clients := slices.Clone(n.c.Clients())
	slices.Sort(clients)
	if len(clients) == 0 {
		n.skip(Crash, "", "no clients")
		return
	}
	victim := clients[n.rng.IntN(len(clients))]
	f := n.begin(Crash, victim, nil, cc.CrashClient(ctx, victim))
	n.finish(f)
}
