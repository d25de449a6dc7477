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
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/harness/docker/agent"
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
	// Config0 forms configuration 0 from the pool; its servers are told it
	// at start. The zero value tells them nothing.
	Config0 harness.Config0
	// ServerBug starts every server with a known protocol bug.
	ServerBug ares.Bug
	// ServerArgs are extra ares-server flags.
	ServerArgs []string
	// TraceDir, when set, gets the spans of every server and agent:
	// each writes an OTLP JSON file inside its container (servers in
	// their data volume, so that a restarted server appends to it) and
	// Stop copies it out to TraceDir/<node>.json.
	TraceDir string
	// TLS, when set, is the run's certificate authority: every server
	// and agent gets a certificate from it (a server's for its ARES
	// address, an agent's for AgentServerName) copied into its container
	// before it starts, and runs with --tls-*; the controller dials the
	// agents, and probes the servers, with its own. Nil: plaintext.
	TLS *harness.RunTLS
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
	ctlCIDR  string // the control network's subnet, for --listen-subnet
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

	// The controller's dialer configurations with TLS; nil: plaintext.
	serverTLS, agentTLS *tls.Config
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
	if err := c.tlsConfigs(); err != nil {
		return nil, err
	}
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
	return c.poolLocked()
}

// poolLocked is Pool with c.mu held (Start holds it while the servers
// start).
func (c *Cluster) poolLocked() []ares.Node {
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
	used.Store(true)
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
		var id string
		err := create(ctx, func(ctx context.Context) error {
			resp, err := c.cli.NetworkCreate(ctx, c.resName("ares"), network.CreateOptions{
				Driver: "bridge",
				IPAM:   &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet.String(), Gateway: netip.AddrFrom4(gw).String()}}},
				Labels: runLabels(c.runID, "ares-network", ""),
			})
			id = resp.ID
			return err
		})
		if err == nil {
			c.aresNet, c.subnet = id, subnet
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
	err := create(ctx, func(ctx context.Context) error {
		resp, err := c.cli.NetworkCreate(ctx, c.resName("control"), network.CreateOptions{
			Driver: "bridge",
			Labels: runLabels(c.runID, "control-network", ""),
		})
		c.ctlNet = resp.ID
		return err
	})
	if err != nil {
		return fmt.Errorf("create control network: %w", err)
	}
	// The engine picks the control network's subnet: the agents bind
	// their address inside it and nothing else.
	if c.ctlCIDR, err = c.controlSubnet(ctx); err != nil {
		return err
	}
	return nil
}

// serverCmd is the command line of a server container (c.mu held: Start
// calls it).
func (c *Cluster) serverCmd(n *node) ([]string, error) {
	cmd := []string{"--id", n.name, "--listen", fmt.Sprintf(":%d", ServerPort), "--data", "/data"}
	// The pool's addresses are final once the ARES network has its subnet.
	config0, err := c.opts.Config0.ServerArgs(c.poolLocked(), n.name)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", n.name, err)
	}
	cmd = append(cmd, config0...)
	if c.opts.ServerBug != "" {
		cmd = append(cmd, "--bug", string(c.opts.ServerBug))
	}
	if c.opts.TraceDir != "" {
		cmd = append(cmd, "--trace-file", serverTraceFile)
	}
	if c.opts.TLS != nil {
		cmd = append(cmd, containerTLS()...)
	}
	return append(cmd, c.opts.ServerArgs...), nil
}

func (c *Cluster) startServer(ctx context.Context, n *node) error {
	cmd, err := c.serverCmd(n)
	if err != nil {
		return err
	}
	if err := create(ctx, func(ctx context.Context) error {
		_, err := c.cli.VolumeCreate(ctx, volume.CreateOptions{Name: n.volume, Labels: runLabels(c.runID, "server", n.name)})
		return err
	}); err != nil {
		return fmt.Errorf("server %s: create volume: %w", n.name, err)
	}
	err = create(ctx, func(ctx context.Context) error {
		_, err := c.cli.ContainerCreate(ctx,
			&container.Config{
				Image:    c.image,
				Hostname: n.name,
				Cmd:      cmd,
				Env:      []string{"GOMAXPROCS=" + harness.ServerProcs(len(c.servers))},
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
		return err
	})
	if err != nil {
		return fmt.Errorf("server %s: create container: %w", n.name, err)
	}
	// Its address is final: the ARES network has its subnet.
	if err := c.putCert(ctx, n, n.ip); err != nil {
		return err
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
	if err := c.waitReady(ctx, n, c.serverProbe(addr)); err != nil {
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
	cl := c.agentClient(n.ctlAddr, id)
	if err := cl.Init(ctx, agent.InitRequest{Initial: spec.Initial, PB: spec.PB, GC: spec.GC, Thrifty: spec.Thrifty, Bug: spec.Bug}); err != nil {
		return nil, fmt.Errorf("client %s: %w", id, err)
	}
	return cl, nil
}

// startAgent creates and starts an agent container: on the ARES network at
// its fixed address, and on the control network, over which the controller
// drives it.
func (c *Cluster) startAgent(ctx context.Context, n *node) error {
	c.mu.Lock()
	img, aresNet, ctlNet, cmd := c.image, c.resName("ares"), c.ctlNet, c.agentCmd(n)
	c.mu.Unlock()
	if img == "" {
		return errors.New("docker backend: NewClient before Start")
	}
	err := create(ctx, func(ctx context.Context) error {
		_, err := c.cli.ContainerCreate(ctx,
			&container.Config{
				Image:      img,
				Hostname:   unsafeName.ReplaceAllString(n.name, "-"),
				Entrypoint: []string{agentPath},
				Cmd:        cmd,
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
		return err
	})
	if err != nil {
		return fmt.Errorf("agent %s: create container: %w", n.name, err)
	}
	// API 1.41 takes one network at create; the second is connected before
	// the start.
	if err := create(ctx, func(ctx context.Context) error {
		return c.cli.NetworkConnect(ctx, ctlNet, n.container, &network.EndpointSettings{})
	}); err != nil {
		return fmt.Errorf("agent %s: connect control network: %w", n.name, err)
	}
	if err := c.putCert(ctx, n, AgentServerName); err != nil {
		return err
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
	probe := c.agentClient(n.ctlAddr, "")
	defer probe.Close()
	if err := c.waitReady(ctx, n, probe.Health); err != nil {
		return fmt.Errorf("agent %s at %s: %w", n.name, n.ctlAddr, err)
	}
	return nil
}
