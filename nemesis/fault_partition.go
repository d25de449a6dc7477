package nemesis

import "context"

// partitionFault cuts links in one of the partition shapes (shapes.go).
type partitionFault struct{ linkFault }

func (partitionFault) start(ctx context.Context, n *Nemesis) *fault {
	plan, err := planPartition(n.rng, n.c.Clients(), n.members())
	if err != nil {
		n.skip(Partition, "", err.Error())
		return nil
	}
	return n.applyLinks(ctx, Partition, plan.desc, func() error { return n.c.Cut(ctx, plan.links) })
}
