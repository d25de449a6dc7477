package nemesis

import (
	"context"
	"fmt"
	"time"
)

// latencyFault adds 50-300 ms to round trips on random links.
type latencyFault struct{ linkFault }

func (latencyFault) start(ctx context.Context, n *Nemesis) *fault {
	links, desc, ok := n.pickLinks(Latency)
	if !ok {
		return nil
	}
	d := time.Duration(50+n.rng.IntN(251)) * time.Millisecond
	return n.applyLinks(ctx, Latency, fmt.Sprintf("%v %s", d, desc), func() error { return n.c.SetLatency(ctx, links, d) })
}
