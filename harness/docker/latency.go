package docker

import (
	"context"
	"fmt"
	"time"

	"github.com/ares-torture/torture/nemesis"
)

// setLatency checks once whether the kernel can delay packets at all (a
// netem qdisc on the loopback of a client's namespace) and, if it cannot,
// reports the fault unsupported. Delaying in the agent's user space would
// not be the same fault, so it is not faked.
//
// Where netem exists, per-link delay still needs a prio qdisc with u32
// filters per server address; that path is not built yet, because no
// machine here could test it, so it reports itself unsupported too, naming
// the reason.
func (c *Cluster) setLatency(ctx context.Context, links []nemesis.Link, d time.Duration) error {
	if len(links) == 0 || d == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, _, err := c.linkNodes(links[0])
	if err != nil {
		return err
	}
	if c.netem == nil {
		ok := c.probeNetem(ctx, cl.pid)
		c.netem = &ok
	}
	if !*c.netem {
		return fmt.Errorf("docker backend: added latency needs the netem qdisc, which this kernel lacks: %w", nemesis.ErrUnsupported)
	}
	return fmt.Errorf("docker backend: per-link latency with netem is not implemented: %w", nemesis.ErrUnsupported)
}

// probeNetem tries to put a netem qdisc on the loopback of pid's network
// namespace, and removes it again.
func (c *Cluster) probeNetem(ctx context.Context, pid int) bool {
	if pid <= 0 {
		return false
	}
	if _, err := nsExec(ctx, pid, "", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"); err != nil {
		c.log.Info("no netem qdisc: latency faults are unsupported", "err", err)
		return false
	}
	_, _ = nsExec(ctx, pid, "", "tc", "qdisc", "del", "dev", "lo", "root")
	return true
}
