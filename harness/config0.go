package harness

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ares-torture/torture/ares"
)

// Config0 is how a run forms configuration 0 from its pool: the first
// Servers servers, with DAP and K. Backends tell those servers at start
// (ares-server --servers, --dap, --ec-k), so that they refuse any request
// describing another configuration 0 instead of letting the first one fix
// it. The zero value tells them nothing.
type Config0 struct {
	Servers int
	DAP     ares.DAP
	K       int
}

// Of is configuration 0 of pool, built as clients build it (K only for EC),
// so that its digest is the one clients send.
func (c Config0) Of(pool []ares.Node) (*ares.Config, error) {
	if c.Servers < 1 || c.Servers > len(pool) {
		return nil, fmt.Errorf("configuration 0 of %d servers from a pool of %d", c.Servers, len(pool))
	}
	cfg := &ares.Config{ID: 0, Servers: append([]ares.Node(nil), pool[:c.Servers]...), DAP: c.DAP}
	if cfg.DAP == ares.EC {
		cfg.K = c.K
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuration 0: %w", err)
	}
	return cfg, nil
}

// ServerArgs returns the ares-server flags that tell server id
// configuration 0 of pool: nil for the zero Config0 and for servers outside
// it (pool servers a reconfiguration may add later).
func (c Config0) ServerArgs(pool []ares.Node, id string) ([]string, error) {
	if c.Servers == 0 {
		return nil, nil
	}
	cfg, err := c.Of(pool)
	if err != nil {
		return nil, err
	}
	if cfg.Index(id) < 0 {
		return nil, nil
	}
	list := make([]string, len(cfg.Servers))
	for i, n := range cfg.Servers {
		list[i] = n.ID + "=" + n.Addr
	}
	args := []string{"--servers", strings.Join(list, ","), "--dap", string(cfg.DAP)}
	if cfg.DAP == ares.EC {
		args = append(args, "--ec-k", strconv.Itoa(cfg.K))
	}
	return args, nil
}
