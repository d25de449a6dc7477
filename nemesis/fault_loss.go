package nemesis

import (
	"context"
	"fmt"
)

// lossFault loses packets on random links; the backends model it as TCP
// does, as stalls that keep order (see Cluster.SetLoss).
type lossFault struct{ linkFault }

func (lossFault) start(ctx context.Context, n *Nemesis) *fault {
	links, desc, ok := n.pickLinks(Loss)
	if !ok {
		return nil
	}
	// Whole percent points keep the description exact.
	p := float64(10+n.rng.IntN(41)) / 100
	return n.applyLinks(ctx, Loss, fmt.Sprintf("p=%.2f %s", p, desc), func() error { return n.c.SetLoss(ctx, links, p) })
}
