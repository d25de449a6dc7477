// Package docker is the docker backend of the torture harness: ARES servers
// in containers FROM scratch on a user-defined bridge network, client agents
// in containers of their own (so that a partition between a client and a
// server is a cut between two hosts), faults through the Engine API and
// iptables rules in the agents' network namespaces.
//
// Every container, network and volume carries the run id as a label and every
// iptables rule carries it in a comment; Stop removes all of a run's
// resources and Clean removes what crashed runs left behind.
package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/harness/docker/agent"
	"github.com/ares-torture/torture/nemesis"
)

// Fixed ports inside the containers: every container has its own address,
// so they never clash.
const (
	ServerPort = 7000
	AgentPort  = 8080
)

// DefaultSubnet is the ARES network's subnet. Servers get .11, .12, ...,
// the control agent .100 and client agents .101 onwards. When the subnet is
// taken (another run on the same engine), the next /24s are tried in order.
const DefaultSubnet = "10.213.0.0/24"

// Host offsets inside the ARES subnet.
const (
	firstServerHost = 11
	controlHost     = 100
	firstClientHost = 101
	lastHost        = 254
)

// Options configure a docker cluster.
type Options struct {
	// RunID names the run in every label, comment and resource name;
	// default: random. Characters other than [a-zA-Z0-9_.-] become '-'.
	RunID string
	// Servers is the pool size (default 5).
	Servers int
	// Subnet is the ARES network's IPv4 /24 (default DefaultSubnet).
	Subnet string
	// ServerBin and AgentBin are the static binaries baked into the image.
	ServerBin, AgentBin string
	// ServerBug starts every server with a known protocol bug.
	ServerBug ares.Bug
	// ServerArgs are extra ares-server flags.
	ServerArgs []string
	// ReadyTimeout bounds the wait for a container to serve (default 30s).
	ReadyTimeout time.Duration
	Logger       *slog.Logger
	// Docker is the Engine API client; default: from the environment,
	// with API version negotiation.
	Docker client.APIClient
}

// Cluster is a harness.Cluster of Docker containers.
type Cluster struct {
	opts  Options
	cli   client.APIClient
	log   *slog.Logger
	runID string

	mu       sync.Mutex
	image    string
	subnet   netip.Prefix
	aresNet  string // network ids
	ctlNet   string
	servers  []*node
	nodes    map[string]*node // servers and client agents by name
	clients  []string         // faultable clients, in creation order
	control  *node
	ctlSeq   int
	agentSeq int                           // client agents made, for their addresses
	rules    map[string]*linkRules         // by client name
	drops    map[string]map[string]float64 // client name -> server -> drop p
	chainOK  map[string]int                // client name -> pid whose netns has the chain
	netem    *bool                         // nil until probed
	started  bool
	stopped  bool
}

// node is one container.
type node struct {
	name      string // server id or client name
	role      string // "server" or "agent"
	container string // container name (also how the engine finds it)
	volume    string // servers: the data volume
	ip        string // on the ARES network
	ctlAddr   string // agents: host:port on the control network
	pid       int    // agents: the init process, for nsenter
}

var (
	_ harness.Cluster = (*Cluster)(nil)
	_ harness.Client  = (*agent.Client)(nil)
)

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_.-]`)

// New returns a cluster; nothing is created until Start.
func New(opts Options) (*Cluster, error) {
	if opts.Servers == 0 {
		opts.Servers = 5
	}
	if opts.Servers < 1 || firstServerHost+opts.Servers > controlHost {
		return nil, fmt.Errorf("docker backend: %d servers (want 1 to %d)", opts.Servers, controlHost-firstServerHost)
	}
	if opts.Subnet == "" {
		opts.Subnet = DefaultSubnet
	}
	subnet, err := netip.ParsePrefix(opts.Subnet)
	if err != nil || !subnet.Addr().Is4() || subnet.Bits() != 24 {
		return nil, fmt.Errorf("docker backend: subnet %q: want an IPv4 /24", opts.Subnet)
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ServerBug != "" {
		if _, err := ares.ParseBug(string(opts.ServerBug)); err != nil {
			return nil, fmt.Errorf("docker backend: %w", err)
		}
	}
	runID := unsafeName.ReplaceAllString(opts.RunID, "-")
	if runID == "" {
		runID = fmt.Sprintf("%d-%d", time.Now().Unix(), os.Getpid())
	}
	if len(runID) > 48 {
		runID = runID[len(runID)-48:]
	}
	cli := opts.Docker
	if cli == nil {
		c, err := NewDockerClient()
		if err != nil {
			return nil, err
		}
		cli = c
	}
	c := &Cluster{
		opts:    opts,
		cli:     cli,
		log:     opts.Logger.With("backend", "docker", "run", runID),
		runID:   runID,
		subnet:  subnet.Masked(),
		nodes:   map[string]*node{},
		rules:   map[string]*linkRules{},
		drops:   map[string]map[string]float64{},
		chainOK: map[string]int{},
	}
	for i := 0; i < opts.Servers; i++ {
		id := fmt.Sprintf("s%d", i+1)
		n := &node{name: id, role: "server", container: c.resName("srv-" + id), volume: c.resName("data-" + id)}
		c.servers = append(c.servers, n)
		c.nodes[id] = n
	}
	c.assignServerIPs()
	return c, nil
}

// NewDockerClient connects to the engine named by the environment
// (DOCKER_HOST, default the local socket), negotiating the API version so
// that engines as old as 20.10 (API 1.41) work.
func NewDockerClient() (*client.Client, error) {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return c, nil
}

// RunID returns the run id used in labels and names.
func (c *Cluster) RunID() string { return c.runID }

func (c *Cluster) resName(s string) string {
	return "ares-torture-" + c.runID + "-" + unsafeName.ReplaceAllString(s, "-")
}

func (c *Cluster) hostIP(host int) string {
	a := c.subnet.Addr().As4()
	a[3] = byte(host)
	return netip.AddrFrom4(a).String()
}

func (c *Cluster) assignServerIPs() {
	for i, n := range c.servers {
		n.ip = c.hostIP(firstServerHost + i)
	}
}

// Servers lists every server of the pool.
func (c *Cluster) Servers() []string {
	out := make([]string, len(c.servers))
	for i, n := range c.servers {
		out[i] = n.name
	}
	return out
}

// Clients lists the clients whose links can be faulted (not the control
// client).
func (c *Cluster) Clients() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.clients...)
}

// Pool lists every server with its address on the ARES network. The
// addresses are final once Start has picked the subnet.
func (c *Cluster) Pool() []ares.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ares.Node, len(c.servers))
	for i, n := range c.servers {
		out[i] = ares.Node{ID: n.name, Addr: net.JoinHostPort(n.ip, strconv.Itoa(ServerPort))}
	}
	return out
}

// Start builds (or reuses) the image, creates the two networks and starts
// every server, waiting until each accepts connections.
func (c *Cluster) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return errors.New("docker backend: already started")
	}
	c.started = true
	if _, err := c.cli.Ping(ctx); err != nil {
		return fmt.Errorf("docker backend: engine not reachable (is `docker info` working?): %w", err)
	}
	if err := CheckHostTools(); err != nil {
		return err
	}
	t0 := time.Now()
	img, err := EnsureImage(ctx, c.cli, ImageOptions{ServerBin: c.opts.ServerBin, AgentBin: c.opts.AgentBin, Logger: c.log})
	if err != nil {
		return err
	}
	c.image = img
	if err := c.createNetworks(ctx); err != nil {
		return err
	}
	c.assignServerIPs()

	errs := make([]error, len(c.servers))
	var wg sync.WaitGroup
	for i, n := range c.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.startServer(ctx, n)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	c.log.Info("cluster started", "servers", len(c.servers), "image", c.image, "subnet", c.subnet, "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// createNetworks creates the ARES network (fixed subnet, trying the next
// /24s if it is taken) and the control network (any subnet).
func (c *Cluster) createNetworks(ctx context.Context) error {
	base := c.subnet
	var lastErr error
	for try := 0; try < 16; try++ {
		a := base.Addr().As4()
		a[2] += byte(try)
		subnet := netip.PrefixFrom(netip.AddrFrom4(a), 24)
		gw := a
		gw[3] = 1
		resp, err := c.cli.NetworkCreate(ctx, c.resName("ares"), network.CreateOptions{
			Driver: "bridge",
			IPAM:   &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet.String(), Gateway: netip.AddrFrom4(gw).String()}}},
			Labels: runLabels(c.runID, "ares-network", ""),
		})
		if err == nil {
			c.aresNet, c.subnet = resp.ID, subnet
			if try > 0 {
				c.log.Warn("ARES subnet taken, using another", "wanted", base, "using", subnet)
			}
			lastErr = nil
			break
		}
		lastErr = err
		if !strings.Contains(err.Error(), "overlap") {
			break
		}
	}
	if lastErr != nil {
		return fmt.Errorf("create ARES network: %w", lastErr)
	}
	resp, err := c.cli.NetworkCreate(ctx, c.resName("control"), network.CreateOptions{
		Driver: "bridge",
		Labels: runLabels(c.runID, "control-network", ""),
	})
	if err != nil {
		return fmt.Errorf("create control network: %w", err)
	}
	c.ctlNet = resp.ID
	return nil
}

func (c *Cluster) serverCmd(n *node) []string {
	cmd := []string{"--id", n.name, "--listen", fmt.Sprintf(":%d", ServerPort), "--data", "/data"}
	if c.opts.ServerBug != "" {
		cmd = append(cmd, "--bug", string(c.opts.ServerBug))
	}
	return append(cmd, c.opts.ServerArgs...)
}

func (c *Cluster) startServer(ctx context.Context, n *node) error {
	if _, err := c.cli.VolumeCreate(ctx, volume.CreateOptions{Name: n.volume, Labels: runLabels(c.runID, "server", n.name)}); err != nil {
		return fmt.Errorf("server %s: create volume: %w", n.name, err)
	}
	_, err := c.cli.ContainerCreate(ctx,
		&container.Config{
			Image:    c.image,
			Hostname: n.name,
			Cmd:      c.serverCmd(n),
			Labels:   runLabels(c.runID, "server", n.name),
		},
		&container.HostConfig{
			Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: n.volume, Target: "/data"}},
			// The data volume keeps the state; the container itself is
			// kept across kills and restarted in place.
			RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
			NetworkMode:   container.NetworkMode(c.resName("ares")),
		},
		&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			c.resName("ares"): {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: n.ip}},
		}},
		nil, n.container)
	if err != nil {
		return fmt.Errorf("server %s: create container: %w", n.name, err)
	}
	return c.runServer(ctx, n)
}

// runServer starts a server's container and waits until it accepts
// connections.
func (c *Cluster) runServer(ctx context.Context, n *node) error {
	if err := c.cli.ContainerStart(ctx, n.container, container.StartOptions{}); err != nil {
		return fmt.Errorf("server %s: start: %w", n.name, err)
	}
	addr := net.JoinHostPort(n.ip, strconv.Itoa(ServerPort))
	if err := c.waitReady(ctx, n, func(ctx context.Context) error {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}); err != nil {
		return fmt.Errorf("server %s at %s: %w", n.name, addr, err)
	}
	return nil
}

// waitReady polls probe until it succeeds, the container exits or the ready
// timeout passes; errors carry the tail of the container's log.
func (c *Cluster) waitReady(ctx context.Context, n *node, probe func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.ReadyTimeout)
	defer cancel()
	var last error
	for {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		last = probe(pctx)
		pcancel()
		if last == nil {
			return nil
		}
		insp, err := c.cli.ContainerInspect(ctx, n.container)
		if err == nil && insp.State != nil && !insp.State.Running {
			return fmt.Errorf("container exited (code %d) before serving: %s", insp.State.ExitCode, c.logTail(n))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not serving after %s: %w (log: %s)", c.opts.ReadyTimeout, last, c.logTail(n))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logTail returns the last lines of a container's log, for error messages.
func (c *Cluster) logTail(n *node) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rd, err := c.cli.ContainerLogs(ctx, n.container, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "5"})
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer rd.Close()
	var b strings.Builder
	_, _ = stdcopy.StdCopy(&b, &b, rd)
	return strings.TrimSpace(b.String())
}

// NewClient starts client name's agent container on both networks and
// returns a handle on its ARES client.
func (c *Cluster) NewClient(ctx context.Context, name string, spec harness.ClientSpec) (harness.Client, error) {
	c.mu.Lock()
	if _, dup := c.nodes[name]; dup {
		c.mu.Unlock()
		return nil, fmt.Errorf("docker backend: client %q already exists (or names a server)", name)
	}
	// A counter, not len(clients): a failed client's container may still
	// hold its address until Stop.
	host := firstClientHost + c.agentSeq
	if host > lastHost {
		c.mu.Unlock()
		return nil, fmt.Errorf("docker backend: at most %d clients", lastHost-firstClientHost+1)
	}
	c.agentSeq++
	n := &node{name: name, role: "agent", container: c.resName("cli-" + name), ip: c.hostIP(host)}
	c.nodes[name] = n
	c.clients = append(c.clients, name)
	c.mu.Unlock()

	if err := c.startAgent(ctx, n); err != nil {
		// Forget the client, so that no fault is aimed at it; Stop
		// removes whatever of its container exists.
		c.mu.Lock()
		delete(c.nodes, name)
		c.clients = slices.DeleteFunc(c.clients, func(s string) bool { return s == name })
		c.mu.Unlock()
		return nil, err
	}
	return c.initClient(ctx, n, name, spec)
}

// ControlClient returns a client in the control agent, whose links no fault
// touches. Each call gets a client of its own in the one control container.
func (c *Cluster) ControlClient(ctx context.Context, spec harness.ClientSpec) (harness.Client, error) {
	c.mu.Lock()
	n := c.control
	fresh := n == nil
	if fresh {
		n = &node{name: "control", role: "agent", container: c.resName("control"), ip: c.hostIP(controlHost)}
		c.control = n
	}
	c.ctlSeq++
	id := fmt.Sprintf("control-%d", c.ctlSeq)
	c.mu.Unlock()
	if fresh {
		if err := c.startAgent(ctx, n); err != nil {
			c.mu.Lock()
			c.control = nil
			c.mu.Unlock()
			return nil, err
		}
	}
	return c.initClient(ctx, n, id, spec)
}

func (c *Cluster) initClient(ctx context.Context, n *node, id string, spec harness.ClientSpec) (harness.Client, error) {
	cl := agent.NewClient(n.ctlAddr, id)
	if err := cl.Init(ctx, agent.InitRequest{Initial: spec.Initial, PB: spec.PB, GC: spec.GC, Bug: spec.Bug}); err != nil {
		return nil, fmt.Errorf("client %s: %w", id, err)
	}
	return cl, nil
}

// startAgent creates and starts an agent container: on the ARES network at
// its fixed address, and on the control network, over which the controller
// drives it.
func (c *Cluster) startAgent(ctx context.Context, n *node) error {
	c.mu.Lock()
	img, aresNet, ctlNet := c.image, c.resName("ares"), c.ctlNet
	c.mu.Unlock()
	if img == "" {
		return errors.New("docker backend: NewClient before Start")
	}
	_, err := c.cli.ContainerCreate(ctx,
		&container.Config{
			Image:      img,
			Hostname:   unsafeName.ReplaceAllString(n.name, "-"),
			Entrypoint: []string{agentPath},
			Cmd:        []string{"--listen", fmt.Sprintf(":%d", AgentPort), "--name", n.name},
			Labels:     runLabels(c.runID, "agent", n.name),
		},
		&container.HostConfig{
			RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
			NetworkMode:   container.NetworkMode(aresNet),
		},
		&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			aresNet: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: n.ip}},
		}},
		nil, n.container)
	if err != nil {
		return fmt.Errorf("agent %s: create container: %w", n.name, err)
	}
	// API 1.41 takes one network at create; the second is connected before
	// the start.
	if err := c.cli.NetworkConnect(ctx, ctlNet, n.container, &network.EndpointSettings{}); err != nil {
		return fmt.Errorf("agent %s: connect control network: %w", n.name, err)
	}
	if err := c.cli.ContainerStart(ctx, n.container, container.StartOptions{}); err != nil {
		return fmt.Errorf("agent %s: start: %w", n.name, err)
	}
	insp, err := c.cli.ContainerInspect(ctx, n.container)
	if err != nil {
		return fmt.Errorf("agent %s: inspect: %w", n.name, err)
	}
	ep := insp.NetworkSettings.Networks[c.resName("control")]
	if ep == nil || ep.IPAddress == "" || insp.State == nil {
		return fmt.Errorf("agent %s: no address on the control network", n.name)
	}
	c.mu.Lock()
	n.ctlAddr = net.JoinHostPort(ep.IPAddress, strconv.Itoa(AgentPort))
	n.pid = insp.State.Pid
	c.mu.Unlock()
	probe := agent.NewClient(n.ctlAddr, "")
	defer probe.Close()
	if err := c.waitReady(ctx, n, probe.Health); err != nil {
		return fmt.Errorf("agent %s at %s: %w", n.name, n.ctlAddr, err)
	}
	return nil
}

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
	cl := agent.NewClient(n.ctlAddr, "")
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

// Stop copies every container's log to logDir/<node>/ (server.log or
// agent.log) and removes the run's containers, volumes and networks. It
// finds them by label, so it also cleans up after a partial Start, and it
// may be called again. It runs to the end even if ctx is cancelled (the
// Ctrl-C path), bounded by its own timeout.
func (c *Cluster) Stop(ctx context.Context, logDir string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	err := removeRun(ctx, c.cli, runFilter(c.runID), logDir, c.log)
	if err != nil {
		return fmt.Errorf("docker backend stop: %w", err)
	}
	return nil
}

// removeRun removes the containers (after saving their logs when logDir is
// set), then the networks and volumes matching f.
func removeRun(ctx context.Context, cli client.APIClient, f filters.Args, logDir string, log *slog.Logger) error {
	var errs []error
	ctrs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	sem := make(chan struct{}, 4)
	for _, ct := range ctrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := removeContainer(ctx, cli, ct, logDir); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		errs = append(errs, fmt.Errorf("list networks: %w", err))
	}
	for _, nw := range nets {
		if err := cli.NetworkRemove(ctx, nw.ID); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", nw.Name, err))
		}
	}
	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		errs = append(errs, fmt.Errorf("list volumes: %w", err))
	}
	for _, v := range vols.Volumes {
		if err := cli.VolumeRemove(ctx, v.Name, true); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove volume %s: %w", v.Name, err))
		}
	}
	log.Debug("removed resources", "containers", len(ctrs), "networks", len(nets), "volumes", len(vols.Volumes))
	return errors.Join(errs...)
}

func removeContainer(ctx context.Context, cli client.APIClient, ct container.Summary, logDir string) error {
	name := ct.Labels[LabelNode]
	if ct.State == "paused" {
		// A frozen container can be neither logged reliably nor killed
		// on every engine; thaw it first.
		_ = cli.ContainerUnpause(ctx, ct.ID)
	}
	var errs []error
	if logDir != "" && name != "" {
		file := "server.log"
		if ct.Labels[LabelRole] == "agent" {
			file = "agent.log"
		}
		if err := saveLogs(ctx, cli, ct.ID, filepath.Join(logDir, unsafeName.ReplaceAllString(name, "-"), file)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := cli.ContainerRemove(ctx, ct.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !errdefs.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("remove container %s: %w", strings.Join(ct.Names, ","), err))
	}
	return errors.Join(errs...)
}

// saveLogs writes a container's stdout and stderr, with the engine's
// timestamps, to path.
func saveLogs(ctx context.Context, cli client.APIClient, id, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("save logs: %w", err)
	}
	rd, err := cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true})
	if err != nil {
		return fmt.Errorf("save logs of %s: %w", id, err)
	}
	defer rd.Close()
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("save logs: %w", err)
	}
	if _, err := stdcopy.StdCopy(f, f, rd); err != nil {
		f.Close()
		return fmt.Errorf("save logs to %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save logs to %s: %w", path, err)
	}
	return nil
}
