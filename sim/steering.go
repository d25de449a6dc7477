package sim

import (
	"github.com/ares-torture/torture/ares"
	"slices"
	"time"
)

// steering is quorum steering: for each phase (the requests one client
// sends in one step for one operation and configuration) exactly one
// minimal quorum is let through at once and the rest are held back, and
// each quorum is drawn to overlap the previous one of its configuration
// as little as it can. Two minimal quorums that share one server are where
// a read misses a write that a bug left on too few servers.
type steering struct {
	// quorum returns the minimal quorum a phase of op in a configuration
	// of n servers waits for.
	quorum func(config uint64, op ares.Op, n int) int
	last   map[uint64][]string // per configuration, the last quorum let through
	slow   map[*message]bool
}

// holdBack is how long the requests to servers outside the chosen quorum
// wait: longer than a round trip of two tail delays (2 x 33 ms), so the
// quorum always answers first, and shorter than a client's retry interval
// (200 ms).
const holdBack = 80 * time.Millisecond

func newSteering(quorum func(uint64, ares.Op, int) int) *steering {
	return &steering{quorum: quorum, last: map[uint64][]string{}, slow: map[*message]bool{}}
}

type phaseKey struct {
	client string
	op     ares.Op
	config uint64
}

// plan picks, for each phase among the fresh messages (in key order), the
// quorum that goes first.
func (s *steering) plan(n *Network, fresh []*message) {
	groups := map[phaseKey][]*message{}
	var order []phaseKey
	for _, m := range fresh {
		if m.reply || m.req == nil {
			continue
		}
		k := phaseKey{m.p.client, m.req.Op, m.req.Config}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], m)
	}
	for _, k := range order {
		ms := groups[k]
		if len(ms) < 3 {
			continue
		}
		q := s.quorum(k.config, k.op, len(ms))
		if q >= len(ms) {
			continue
		}
		prev := s.last[k.config]
		// Servers outside the previous quorum first, each part in a
		// random order, so the new quorum shares as few as it can.
		var out, in []*message
		for _, m := range ms {
			if slices.Contains(prev, m.p.server) {
				in = append(in, m)
			} else {
				out = append(out, m)
			}
		}
		n.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		n.rng.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
		all := append(out, in...)
		chosen := make([]string, 0, q)
		for i, m := range all {
			if i < q {
				chosen = append(chosen, m.p.server)
			} else {
				s.slow[m] = true
			}
		}
		slices.Sort(chosen)
		s.last[k.config] = chosen
	}
}

// hold is the extra delay of a message that plan held back.
func (s *steering) hold(m *message) time.Duration {
	if !s.slow[m] {
		return 0
	}
	delete(s.slow, m)
	return holdBack
}
