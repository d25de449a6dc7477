package harness

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/nemesis"
)

// reconfigurer is the nemesis.Reconfigurer of a run: the control client,
// and with --reconfigurers N the clients r1..r{N-1} racing it, move the
// system to configurations drawn from the pool.
type reconfigurer struct {
	cs   []Client
	pool map[string]ares.Node

	mu      sync.Mutex
	members []string
	newest  uint64 // the index of the configuration members come from
}

var _ nemesis.MultiReconfigurer = (*reconfigurer)(nil)

func newReconfigurer(cs []Client, pool []ares.Node, initial *ares.Config) *reconfigurer {
	r := &reconfigurer{cs: cs, pool: map[string]ares.Node{}}
	for _, n := range pool {
		r.pool[n.ID] = n
	}
	for _, n := range initial.Servers {
		r.members = append(r.members, n.ID)
	}
	return r
}

// Reconfig implements nemesis.Reconfigurer: the control client reconfigures.
func (r *reconfigurer) Reconfig(ctx context.Context, servers []string, dap ares.DAP, k int) (string, error) {
	return r.ReconfigBy(ctx, 0, servers, dap, k)
}

// Reconfigurers implements nemesis.MultiReconfigurer.
func (r *reconfigurer) Reconfigurers() int { return len(r.cs) }

// ReconfigBy implements nemesis.MultiReconfigurer. A reconfigurer that
// crashed comes back as a new client, as a workload client does.
func (r *reconfigurer) ReconfigBy(ctx context.Context, who int, servers []string, dap ares.DAP, k int) (string, error) {
	if who < 0 || who >= len(r.cs) {
		return "", fmt.Errorf("reconfig: no reconfigurer %d of %d", who, len(r.cs))
	}
	c := r.cs[who]
	cfg := &ares.Config{DAP: dap, K: k}
	for _, id := range servers {
		n, ok := r.pool[id]
		if !ok {
			return "", fmt.Errorf("reconfig: %s is not in the pool", id)
		}
		cfg.Servers = append(cfg.Servers, n)
	}
	if dap != ares.EC {
		cfg.K = 0
	}
	if err := cfg.Validate(); err != nil {
		return "", fmt.Errorf("reconfig: %w", err)
	}
	installed, err := c.Reconfig(ctx, cfg)
	if errors.Is(err, ErrCrashed) {
		if rerr := c.Renew(ctx); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	if err != nil {
		return "", fmt.Errorf("reconfig to %s: %w", cfg, err)
	}
	ids := make([]string, len(installed.Servers))
	for i, n := range installed.Servers {
		ids[i] = n.ID
	}
	r.mu.Lock()
	// Racing reconfigurers return in any order: the members are those of
	// the newest configuration installed.
	if installed.ID >= r.newest {
		r.members, r.newest = ids, installed.ID
	}
	r.mu.Unlock()
	return installed.String(), nil
}

// Members implements nemesis.Reconfigurer.
func (r *reconfigurer) Members() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.members...)
}
