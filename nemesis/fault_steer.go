package nemesis

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// steerFault steers quorums: each phase should hear first from exactly one
// minimal quorum, and consecutive quorums should share as few servers as
// they can, which is where a read misses a write left on too few servers.
// A Steerer (the sim scheduler) does it per phase; elsewhere every client's
// links to the servers outside one minimal quorum are slowed for the hold,
// and each hold's quorum overlaps the previous one minimally.
type steerFault struct{ linkFault }

// steerDelay slows the servers outside the quorum: longer than a phase
// takes on loopback, shorter than an operation's timeout.
const steerDelay = 150 * time.Millisecond

func (steerFault) start(ctx context.Context, n *Nemesis) *fault {
	if s, ok := n.c.(Steerer); ok {
		return n.applyLinks(ctx, Steer, "per phase", func() error { return s.SetSteer(ctx, true) })
	}
	members, clients := n.members(), n.c.Clients()
	if len(members) < 3 || len(clients) == 0 {
		n.skip(Steer, "", fmt.Sprintf("nothing to steer (%d clients, %d servers)", len(clients), len(members)))
		return nil
	}
	q := len(members)/2 + 1
	var out, in []string
	for _, s := range members {
		if slices.Contains(n.steered, s) {
			in = append(in, s)
		} else {
			out = append(out, s)
		}
	}
	order := append(shuffled(n.rng, out), shuffled(n.rng, in)...)
	fast, slow := slices.Clone(order[:q]), order[q:]
	slices.Sort(fast)
	n.steered = fast
	var links []Link
	for _, c := range clients {
		for _, s := range slow {
			links = append(links, Link{Client: c, Server: s})
		}
	}
	desc := "fast " + strings.Join(fast, " ")
	return n.applyLinks(ctx, Steer, desc, func() error { return n.c.SetLatency(ctx, links, steerDelay) })
}
