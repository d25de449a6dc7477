package nemesis

import (
	"context"
	"fmt"
)

// faultKind is one primary fault kind (every kind but reconfig and crash): how its
// targets are drawn and the fault put in place, and how it is healed. Each
// kind lives in its own file (fault_*.go).
type faultKind interface {
	// onLinks reports a fault on client-server links; Cluster.Heal removes
	// every such fault at once.
	onLinks() bool
	// start draws the fault's targets from n.rng, applies the fault and
	// records its start (n.opMu held). It returns the fault to heal at the
	// end of the hold, or nil when none is in place.
	start(ctx context.Context, n *Nemesis) *fault
	// heal undoes what is left of f (n.opMu held).
	heal(ctx context.Context, n *Nemesis, f *fault) error
}

// faultKinds maps each primary kind to its implementation.
var faultKinds = map[string]faultKind{
	Partition: partitionFault{},
	Kill:      serverFault{kind: Kill},
	Pause:     serverFault{kind: Pause},
	Loss:      lossFault{},
	Latency:   latencyFault{},
	Drop:      dropFault{},
	Skew:      skewFault{},
	Power:     serverFault{kind: Power},
	Steer:     steerFault{},
}

// linkFault is the healing shared by the link kinds: a link fault is
// never healed alone, Cluster.Heal clears every link.
type linkFault struct{}

func (linkFault) onLinks() bool { return true }

func (linkFault) heal(ctx context.Context, n *Nemesis, _ *fault) error {
	if err := n.c.Heal(ctx); err != nil {
		return fmt.Errorf("heal links: %w", err)
	}
	return nil
}
