package harness

import (
	"context"
	"fmt"
	"sync"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/nemesis"
)

// reconfigurer is the nemesis.Reconfigurer of a run: the control client
// moves the system to configurations drawn from the pool.
type reconfigurer struct {
	c    Client
	pool map[string]ares.Node

	mu      sync.Mutex
	members []string
}

var _ nemesis.Reconfigurer = (*reconfigurer)(nil)

func newReconfigurer(c Client, pool []ares.Node, initial *ares.Config) *reconfigurer {
	r := &reconfigurer{c: c, pool: map[string]ares.Node{}}
	for _, n := range pool {
		r.pool[n.ID] = n
	}
	for _, n := range initial.Servers {
		r.members = append(r.members, n.ID)
	}
	return r
}

// Reconfig implements nemesis.Reconfigurer.
func (r *reconfigurer) Reconfig(ctx context.Context, servers []string, dap ares.DAP, k int) (string, error) {
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
	installed, err := r.c.Reconfig(ctx, cfg)
	if err != nil {
		return "", fmt.Errorf("reconfig to %s: %w", cfg, err)
	}
	ids := make([]string, len(installed.Servers))
	for i, n := range installed.Servers {
		ids[i] = n.ID
	}
	r.mu.Lock()
	r.members = ids
	r.mu.Unlock()
	return installed.String(), nil
}

// Members implements nemesis.Reconfigurer.
func (r *reconfigurer) Members() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.members...)
}
