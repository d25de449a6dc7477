package nemesis

import (
	"context"
	"fmt"
	"slices"
)

// dropFault loses whole RPC messages (see Cluster.SetDrop) on every link of
// some clients: a lossy client host. Unlike loss, a lost message is gone,
// not late, so a write's put-data can reach one server only while the
// same client's next messages reach the others.
type dropFault struct{ linkFault }

func (dropFault) start(ctx context.Context, n *Nemesis) *fault {
	clients, members := n.c.Clients(), n.members()
	if len(clients) == 0 || len(members) == 0 {
		n.skip(Drop, "", fmt.Sprintf("no links (%d clients, %d servers)", len(clients), len(members)))
		return nil
	}
	// Every link of the chosen clients: a put reaching exactly one server
	// and the next get-tag missing it needs loss towards all of them.
	cs := shuffled(n.rng, clients)
	cs = cs[:1+n.rng.IntN(len(cs))]
	slices.Sort(cs)
	links := cutAll(nil, cs, members)
	// 15-35%: lower rarely loses a put on two servers of three, higher
	// rarely lets the get-tag before it reach a quorum.
	p := float64(15+n.rng.IntN(21)) / 100
	desc := fmt.Sprintf("p=%.2f %s", p, linkList(links))
	return n.applyLinks(ctx, Drop, desc, func() error { return n.c.SetDrop(ctx, links, p) })
}
