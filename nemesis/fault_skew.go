package nemesis

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// skewFault makes distance depend on where a client sits, as with clients
// and servers spread over sites: one server s is near some clients (the
// "near" group, far from every other server), far from others (the "far"
// group, near every other server), and the rest see every server near.
// A write from the near group then lands on s alone for half a round
// trip, readers that see every server near can read it there, and the far
// group's quorums miss s: the window in which a read that does not write
// back lets a later read go back in time. A correct protocol is
// indifferent to it; it is only latency.
type skewFault struct{ linkFault }

func (skewFault) start(ctx context.Context, n *Nemesis) *fault {
	clients, members := shuffled(n.rng, n.c.Clients()), n.members()
	if len(clients) < 2 || len(members) < 2 {
		n.skip(Skew, "", fmt.Sprintf("needs two clients and two servers (%d, %d)", len(clients), len(members)))
		return nil
	}
	s := members[n.rng.IntN(len(members))]
	others := slices.DeleteFunc(slices.Clone(members), func(m string) bool { return m == s })
	// At least one near and one far client; with three or more, at least
	// one that sees every server near too.
	near, far := []string{clients[0]}, []string{clients[1]}
	var even []string
	for _, c := range clients[2:] {
		switch k := n.rng.IntN(3); {
		case k == 0:
			near = append(near, c)
		case k == 1 || len(even) == 0:
			even = append(even, c)
		default:
			far = append(far, c)
		}
	}
	slices.Sort(near)
	slices.Sort(far)
	links := cutAll(nil, near, others)
	links = cutAll(links, far, []string{s})
	d := time.Duration(100+n.rng.IntN(201)) * time.Millisecond
	desc := fmt.Sprintf("%v %s near [%s] far [%s]", d, s, strings.Join(near, " "), strings.Join(far, " "))
	return n.applyLinks(ctx, Skew, desc, func() error { return n.c.SetLatency(ctx, links, d) })
}
