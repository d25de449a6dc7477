package docker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/ares-torture/torture/nemesis"
)

func (c *Cluster) server(name string) (*node, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[name]
	if n == nil || n.role != "server" {
		return nil, fmt.Errorf("docker backend: no server %q", name)
	}
	return n, nil
}

// Kill kills a server's container with SIGKILL; its data volume stays.
func (c *Cluster) Kill(ctx context.Context, server string) error {
	n, err := c.server(server)
	if err != nil {
		return err
	}
	if err := c.cli.ContainerKill(ctx, n.container, "KILL"); err != nil {
		return fmt.Errorf("kill %s: %w", server, err)
	}
	// Wait for the engine to see the exit, so that a Restart right after
	// does not find the container still running.
	waitC, errC := c.cli.ContainerWait(ctx, n.container, container.WaitConditionNotRunning)
	select {
	case <-waitC:
	case err := <-errC:
		return fmt.Errorf("kill %s: wait: %w", server, err)
	}
	return nil
}

// Restart starts a killed server's container again on its own volume and
// address, and waits until it serves.
func (c *Cluster) Restart(ctx context.Context, server string) error {
	n, err := c.server(server)
	if err != nil {
		return err
	}
	return c.runServer(ctx, n)
}

// Pause freezes a server's container (the cgroup freezer: SIGSTOP's
// equivalent, invisible to the process).
func (c *Cluster) Pause(ctx context.Context, server string) error {
	n, err := c.server(server)
	if err != nil {
		return err
	}
	if err := c.cli.ContainerPause(ctx, n.container); err != nil {
		return fmt.Errorf("pause %s: %w", server, err)
	}
	return nil
}

// Resume thaws a paused server.
func (c *Cluster) Resume(ctx context.Context, server string) error {
	n, err := c.server(server)
	if err != nil {
		return err
	}
	if err := c.cli.ContainerUnpause(ctx, n.container); err != nil {
		return fmt.Errorf("resume %s: %w", server, err)
	}
	return nil
}

// linkNodes resolves a link to its client agent and server.
func (c *Cluster) linkNodes(l nemesis.Link) (*node, *node, error) {
	cl, sv := c.nodes[l.Client], c.nodes[l.Server]
	if cl == nil || cl.role != "agent" {
		return nil, nil, fmt.Errorf("docker backend: link %s: no client %q", l, l.Client)
	}
	if sv == nil || sv.role != "server" {
		return nil, nil, fmt.Errorf("docker backend: link %s: no server %q", l, l.Server)
	}
	return cl, sv, nil
}

// Cut drops all traffic on the links, in both directions; cuts accumulate
// until Heal.
func (c *Cluster) Cut(ctx context.Context, links []nemesis.Link) error {
	return c.changeRules(ctx, links, func(r *linkRules, ip string) { r.cut[ip] = true })
}

// SetLoss drops each packet on the links, in each direction, with
// probability p (0 removes the loss).
func (c *Cluster) SetLoss(ctx context.Context, links []nemesis.Link, p float64) error {
	if p < 0 || p > 1 {
		return fmt.Errorf("docker backend: loss probability %v not in [0,1]", p)
	}
	return c.changeRules(ctx, links, func(r *linkRules, ip string) {
		if p == 0 {
			delete(r.loss, ip)
		} else {
			r.loss[ip] = p
		}
	})
}

// Heal removes every cut, every loss rule and every drop.
func (c *Cluster) Heal(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, name := range sortedKeys(c.rules) {
		r := c.rules[name]
		if r.empty() {
			continue
		}
		*r = *newLinkRules()
		errs = append(errs, c.applyLocked(ctx, c.nodes[name], r))
	}
	for _, name := range sortedKeys(c.drops) {
		if len(c.drops[name]) == 0 {
			continue
		}
		if err := c.postDropLocked(ctx, c.nodes[name], nil); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(c.drops, name)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("heal: %w", err)
	}
	return nil
}

// SetDrop loses RPC messages on the links with probability p (0 removes
// it). The ARES clients run in the agents, so each agent's transport loses
// them (agent POST /v1/drop); iptables could only lose packets, which TCP
// retransmits, and that is SetLoss.
func (c *Cluster) SetDrop(ctx context.Context, links []nemesis.Link, p float64) error {
	if p < 0 || p > 1 {
		return fmt.Errorf("docker backend: drop probability %v not in [0,1]", p)
	}
	return c.perClient(links, func(cl, sv *node) {
		d := c.drops[cl.name]
		if d == nil {
			d = map[string]float64{}
			c.drops[cl.name] = d
		}
		if p == 0 {
			delete(d, sv.name)
		} else {
			d[sv.name] = p
		}
	}, func(name string) error { return c.postDropLocked(ctx, c.nodes[name], c.drops[name]) })
}

// postDropLocked sends an agent its whole drop table (c.mu held).
func (c *Cluster) postDropLocked(ctx context.Context, n *node, drops map[string]float64) error {
	if n == nil || n.ctlAddr == "" {
		return errors.New("docker backend: drop on a client without a running agent")
	}
	cl := c.agentClient(n.ctlAddr, "")
	defer cl.Close()
	if err := cl.SetDrop(ctx, drops); err != nil {
		return fmt.Errorf("client %s: %w", n.name, err)
	}
	return nil
}

// SetLatency would add delay with netem; these machines' kernels have no
// netem qdisc (nor prio), and nothing else adds delay to packets honestly,
// so it reports itself unsupported when the probe fails.
func (c *Cluster) SetLatency(ctx context.Context, links []nemesis.Link, d time.Duration) error {
	return c.setLatency(ctx, links, d)
}

func (c *Cluster) changeRules(ctx context.Context, links []nemesis.Link, change func(*linkRules, string)) error {
	return c.perClient(links, func(cl, sv *node) {
		r := c.rules[cl.name]
		if r == nil {
			r = newLinkRules()
			c.rules[cl.name] = r
		}
		change(r, sv.ip)
	}, func(name string) error { return c.applyLocked(ctx, c.nodes[name], c.rules[name]) })
}

// perClient is how a fault on links reaches the clients (c.mu held
// while it runs): note each link's change in its client's table, then
// install each touched client's table once, in name order.
func (c *Cluster) perClient(links []nemesis.Link, note func(cl, sv *node), install func(client string) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	touched := map[string]bool{}
	for _, l := range links {
		cl, sv, err := c.linkNodes(l)
		if err != nil {
			return err
		}
		note(cl, sv)
		touched[cl.name] = true
	}
	var errs []error
	for _, name := range sortedKeys(touched) {
		errs = append(errs, install(name))
	}
	return errors.Join(errs...)
}

// applyLocked installs a client's rules in its network namespace: the chain
// and its jumps once, then the chain's whole content in one transaction.
func (c *Cluster) applyLocked(ctx context.Context, n *node, r *linkRules) error {
	if n.pid <= 0 {
		return fmt.Errorf("client %s has no running agent", n.name)
	}
	if c.chainOK[n.name] != n.pid {
		if err := iptablesRestore(ctx, n.pid, setupScript(c.runID)); err != nil {
			return fmt.Errorf("client %s: set up chain: %w", n.name, err)
		}
		c.chainOK[n.name] = n.pid
	}
	if err := iptablesRestore(ctx, n.pid, renderScript(c.runID, r)); err != nil {
		return fmt.Errorf("client %s: rules: %w", n.name, err)
	}
	return nil
}
