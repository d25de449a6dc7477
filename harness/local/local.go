// Package local is the local backend of harness.Cluster: ares-server
// processes on loopback ports, each with its own data directory, and
// clients in the controller's process that reach every server through
// their own fault-injecting link (a connection wrapper, harness/local/link.go).
package local

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/nemesis"
)

// Options configure a local cluster.
type Options struct {
	// RunDir holds nodes/<id>/data and nodes/<id>/server.log.
	RunDir string
	// Pool is how many servers run; they are named s1..sN.
	Pool int
	// ServerBin is the ares-server binary.
	ServerBin string
	// Config0 forms configuration 0 from the pool; its servers are told it
	// at start. The zero value tells them nothing.
	Config0 harness.Config0
	// ServerBug is passed to every server as --bug (a server bug only).
	ServerBug ares.Bug
	// Direct makes workload clients bypass their links (no fault reaches
	// them then); for measuring what the links cost.
	Direct bool
	Logger *slog.Logger
	// Tracer receives the in-process clients' spans; nil: none.
	Tracer trace.Tracer
	// TraceDir, when set, gets each server's spans (<id>.json).
	TraceDir string
	// NewTransport builds a client transport that connects to a server's
	// address with dial (its link's faults; nil: a plain TCP dial). Nil
	// means the gRPC transport (over mutual TLS with TLS set).
	NewTransport func(dial func(ctx context.Context, addr string) (net.Conn, error)) (ares.Transport, io.Closer, error)
	// TLS, when set, gives each server a certificate for 127.0.0.1 and its
	// id and starts it with --tls-*; the in-process clients and the
	// readiness probe dial with the controller's certificate. The links
	// act on the bytes under TLS, so their faults still apply. Nil:
	// plaintext on loopback.
	TLS *harness.RunTLS
}

// Cluster is a local cluster. It implements harness.Cluster.
type Cluster struct {
	opts    Options
	log     *slog.Logger
	servers []*server
	byID    map[string]*server

	mu       sync.Mutex
	clients  map[string]map[string]*link       // client -> server -> link
	drops    map[string]*nemesis.DropTransport // client -> its transport's dropper
	inproc   map[string]*harness.InProcessClient
	order    []string // client names in creation order
	closers  []io.Closer
	stopped  bool
	stopErr  error
	stopOnce sync.Once
}

var _ harness.Cluster = (*Cluster)(nil)

// New prepares a cluster: it picks the ports and directories but starts
// nothing.
func New(opts Options) (*Cluster, error) {
	if opts.Pool < 1 {
		return nil, fmt.Errorf("local cluster: pool of %d servers", opts.Pool)
	}
	if opts.ServerBin == "" {
		return nil, errors.New("local cluster: no ares-server binary given")
	}
	if _, err := os.Stat(opts.ServerBin); err != nil {
		return nil, fmt.Errorf("local cluster: ares-server binary: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	runDir, err := filepath.Abs(opts.RunDir)
	if err != nil {
		return nil, fmt.Errorf("local cluster: %w", err)
	}
	var clientTLS *tls.Config
	if opts.TLS != nil {
		if clientTLS, err = opts.TLS.ClientConfig(""); err != nil {
			return nil, fmt.Errorf("local cluster: %w", err)
		}
	}
	if opts.NewTransport == nil {
		opts.NewTransport = grpcTransport(clientTLS)
	}
	c := &Cluster{
		opts:    opts,
		log:     opts.Logger,
		byID:    map[string]*server{},
		clients: map[string]map[string]*link{},
		drops:   map[string]*nemesis.DropTransport{},
		inproc:  map[string]*harness.InProcessClient{},
	}
	addrs, err := freePorts(opts.Pool)
	if err != nil {
		return nil, err
	}
	for i := 1; i <= opts.Pool; i++ {
		s := &server{
			id:      fmt.Sprintf("s%d", i),
			addr:    addrs[i-1],
			unix:    unixName(runDir, fmt.Sprintf("s%d", i)),
			bin:     opts.ServerBin,
			bug:     string(opts.ServerBug),
			runDir:  runDir,
			procs:   harness.ServerProcs(opts.Pool),
			logger:  opts.Logger,
			argsFor: serverArgs,
			probe:   clientTLS,
		}
		if opts.TLS != nil {
			// Every certificate before any server starts: they all read
			// the one ca.pem.
			if s.tls, err = opts.TLS.Issue(s.id, "127.0.0.1", "localhost"); err != nil {
				return nil, fmt.Errorf("local cluster: %w", err)
			}
		}
		s.dir = filepath.Join(runDir, harness.NodesDir, s.id)
		s.trace = traceFile(opts.TraceDir, s.id)
		c.servers = append(c.servers, s)
		c.byID[s.id] = s
	}
	pool := c.Pool()
	for _, s := range c.servers {
		if s.config0, err = opts.Config0.ServerArgs(pool, s.id); err != nil {
			return nil, fmt.Errorf("local cluster: %w", err)
		}
	}
	return c, nil
}

// Start implements harness.Cluster: every server of the pool, in
// parallel, each waited for until it serves.
func (c *Cluster) Start(ctx context.Context) error {
	errs := make([]error, len(c.servers))
	var wg sync.WaitGroup
	for i, s := range c.servers {
		wg.Go(func() { errs[i] = s.start(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("start local cluster: %w", err)
	}
	c.log.Info("local cluster serving", "servers", len(c.servers))
	return nil
}

// Pool implements harness.Cluster.
func (c *Cluster) Pool() []ares.Node {
	out := make([]ares.Node, len(c.servers))
	for i, s := range c.servers {
		out[i] = ares.Node{ID: s.id, Addr: s.addr}
	}
	return out
}

// Servers implements nemesis.Cluster.
func (c *Cluster) Servers() []string {
	out := make([]string, len(c.servers))
	for i, s := range c.servers {
		out[i] = s.id
	}
	return out
}

// Clients implements nemesis.Cluster: every workload client created so
// far (the control client has no links to fault).
func (c *Cluster) Clients() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.opts.Direct {
		return nil
	}
	return append([]string(nil), c.order...)
}

// NewClient implements harness.Cluster: one link per server of the pool,
// and an ARES client whose transport dials each server through its link.
func (c *Cluster) NewClient(ctx context.Context, name string, spec harness.ClientSpec) (harness.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil, errors.New("local cluster: stopped")
	}
	if _, dup := c.clients[name]; dup {
		return nil, fmt.Errorf("local cluster: client %s exists", name)
	}
	if c.opts.Direct {
		c.clients[name] = map[string]*link{}
		return c.newClient(name, spec, c.dialDirect(), false)
	}
	links := map[string]*link{}
	byAddr := map[string]*link{}
	for _, s := range c.servers {
		l := newLink(name, s)
		links[s.id] = l
		byAddr[s.addr] = l
	}
	c.clients[name] = links
	c.order = append(c.order, name)
	direct := c.dialDirect()
	return c.newClient(name, spec, func(ctx context.Context, addr string) (net.Conn, error) {
		if l := byAddr[addr]; l != nil {
			return l.Dial(ctx)
		}
		// A server outside the pool cannot be in a configuration; dial it
		// as it is rather than fail.
		return direct(ctx, addr)
	}, true)
}

// ControlClient implements harness.Cluster: direct connections, never cut.
func (c *Cluster) ControlClient(ctx context.Context, spec harness.ClientSpec) (harness.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil, errors.New("local cluster: stopped")
	}
	return c.newClient("control", spec, c.dialDirect(), false)
}

// dialDirect connects to the cluster's servers with no link between:
// to their Unix sockets, as the links do.
func (c *Cluster) dialDirect() func(context.Context, string) (net.Conn, error) {
	byAddr := map[string]*server{}
	for _, s := range c.servers {
		byAddr[s.addr] = s
	}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		if s := byAddr[addr]; s != nil {
			return dialServer(ctx, s)
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
}

// newClient is called with c.mu held. A faulted client's messages go
// through a DropTransport, where SetDrop loses them: the client runs in
// this process, so its transport is where its messages are sent.
func (c *Cluster) newClient(name string, spec harness.ClientSpec, dial func(context.Context, string) (net.Conn, error), faulted bool) (harness.Client, error) {
	tr, closer, err := c.opts.NewTransport(dial)
	if err != nil {
		return nil, fmt.Errorf("client %s: transport: %w", name, err)
	}
	if faulted {
		d := nemesis.NewDropTransport(tr, nil)
		c.drops[name] = d
		tr = d
	}
	ac, err := ares.NewClient(ares.ClientOptions{
		ID:        name,
		Initial:   spec.Initial,
		Transport: tr,
		PB:        spec.PB,
		Thrifty:   spec.Thrifty,
		GC:        spec.GC,
		Bug:       spec.Bug,
		Logger:    c.log.With("client", name),
		Tracer:    c.opts.Tracer,
	})
	if err != nil {
		closer.Close()
		return nil, fmt.Errorf("client %s: %w", name, err)
	}
	c.closers = append(c.closers, closer)
	cl := harness.NewInProcessClient(ac, closer)
	c.inproc[name] = cl
	return cl, nil
}

// CrashClient implements nemesis.ClientCrasher: the client's operations
// in flight stop wherever they are (the client runs in this process).
func (c *Cluster) CrashClient(ctx context.Context, name string) error {
	c.mu.Lock()
	cl := c.inproc[name]
	c.mu.Unlock()
	if cl == nil || name == "control" {
		return fmt.Errorf("local cluster: no workload client %q", name)
	}
	cl.Crash()
	return nil
}

// links resolves nemesis links to the clients' links.
func (c *Cluster) links(ls []nemesis.Link) ([]*link, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*link, 0, len(ls))
	for _, l := range ls {
		if c.opts.Direct {
			continue
		}
		byServer, ok := c.clients[l.Client]
		if !ok {
			return nil, fmt.Errorf("no client %q", l.Client)
		}
		pl, ok := byServer[l.Server]
		if !ok {
			return nil, fmt.Errorf("no server %q", l.Server)
		}
		out = append(out, pl)
	}
	return out, nil
}

func (c *Cluster) allLinks() []*link {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*link
	for _, name := range c.order {
		byServer := c.clients[name]
		ids := make([]string, 0, len(byServer))
		for id := range byServer {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			out = append(out, byServer[id])
		}
	}
	return out
}

// Cut implements nemesis.Cluster.
func (c *Cluster) Cut(ctx context.Context, ls []nemesis.Link) error {
	links, err := c.links(ls)
	if err != nil {
		return fmt.Errorf("cut: %w", err)
	}
	var errs []error
	for _, l := range links {
		errs = append(errs, l.SetCut(true))
	}
	return errors.Join(errs...)
}

// Heal implements nemesis.Cluster: every link clean again.
func (c *Cluster) Heal(ctx context.Context) error {
	var errs []error
	for _, l := range c.allLinks() {
		errs = append(errs, l.SetCut(false), l.SetLoss(0), l.SetLatency(0))
	}
	c.mu.Lock()
	for _, d := range c.drops {
		d.Heal()
	}
	c.mu.Unlock()
	return errors.Join(errs...)
}

// SetDrop implements nemesis.Cluster: the client's DropTransport loses
// messages to and from the server.
func (c *Cluster) SetDrop(ctx context.Context, ls []nemesis.Link, p float64) error {
	if p < 0 || p > 1 {
		return fmt.Errorf("drop probability %v: want 0..1", p)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.opts.Direct {
		return nil // no fault reaches direct clients
	}
	for _, l := range ls {
		d, ok := c.drops[l.Client]
		if !ok {
			return fmt.Errorf("drop: no client %q", l.Client)
		}
		if _, ok := c.byID[l.Server]; !ok {
			return fmt.Errorf("drop: no server %q", l.Server)
		}
		if err := d.SetDrop(l.Server, p); err != nil {
			return fmt.Errorf("drop: %w", err)
		}
	}
	return nil
}

// SetLoss implements nemesis.Cluster.
func (c *Cluster) SetLoss(ctx context.Context, ls []nemesis.Link, p float64) error {
	if p < 0 || p > 1 {
		return fmt.Errorf("loss probability %v: want 0..1", p)
	}
	links, err := c.links(ls)
	if err != nil {
		return fmt.Errorf("loss: %w", err)
	}
	var errs []error
	for _, l := range links {
		errs = append(errs, l.SetLoss(p))
	}
	return errors.Join(errs...)
}

// SetLatency implements nemesis.Cluster.
func (c *Cluster) SetLatency(ctx context.Context, ls []nemesis.Link, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("latency %v: want >= 0", d)
	}
	links, err := c.links(ls)
	if err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	var errs []error
	for _, l := range links {
		errs = append(errs, l.SetLatency(d))
	}
	return errors.Join(errs...)
}

func (c *Cluster) server(id string) (*server, error) {
	s, ok := c.byID[id]
	if !ok {
		return nil, fmt.Errorf("no server %q in the pool", id)
	}
	return s, nil
}

// Kill implements nemesis.Cluster (SIGKILL).
func (c *Cluster) Kill(ctx context.Context, id string) error {
	s, err := c.server(id)
	if err != nil {
		return err
	}
	return s.kill(ctx)
}

// Restart implements nemesis.Cluster: the same binary, port and data
// directory. A running server is left alone.
func (c *Cluster) Restart(ctx context.Context, id string) error {
	s, err := c.server(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	stopped := c.stopped
	c.mu.Unlock()
	if stopped {
		return errors.New("local cluster: stopped")
	}
	return s.restart(ctx)
}

// Pause implements nemesis.Cluster (SIGSTOP).
func (c *Cluster) Pause(ctx context.Context, id string) error {
	s, err := c.server(id)
	if err != nil {
		return err
	}
	return s.pause()
}

// Resume implements nemesis.Cluster (SIGCONT).
func (c *Cluster) Resume(ctx context.Context, id string) error {
	s, err := c.server(id)
	if err != nil {
		return err
	}
	return s.resume()
}

// Stop implements harness.Cluster: every server killed, every link and
// client transport closed, and the server logs copied to logDir/<id>/
// unless they are there already. It is safe to call more than once.
func (c *Cluster) Stop(ctx context.Context, logDir string) error {
	c.stopOnce.Do(func() {
		c.mu.Lock()
		c.stopped = true
		closers := c.closers
		c.closers = nil
		c.mu.Unlock()

		var errs []error
		var wg sync.WaitGroup
		kerrs := make([]error, len(c.servers))
		for i, s := range c.servers {
			wg.Go(func() {
				// Stop ctx may be short or gone (Ctrl-C): a kill must still
				// be awaited, so it gets its own bound.
				kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				defer cancel()
				kerrs[i] = s.kill(kctx)
			})
		}
		wg.Wait()
		errs = append(errs, kerrs...)
		for _, cl := range closers {
			_ = cl.Close() // a transport's close error says nothing about the run
		}
		for _, l := range c.allLinks() {
			l.Close()
		}
		if logDir != "" {
			for _, s := range c.servers {
				errs = append(errs, copyLog(s, logDir))
			}
		}
		c.stopErr = errors.Join(errs...)
		c.log.Info("local cluster stopped", "err", c.stopErr)
	})
	return c.stopErr
}

func copyLog(s *server, logDir string) error {
	dst := filepath.Join(logDir, s.id, "server.log")
	if a, err := filepath.Abs(dst); err == nil && a == s.logPath() {
		return nil
	}
	in, err := os.Open(s.logPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("copy log of %s: %w", s.id, err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("copy log of %s: %w", s.id, err)
	}
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("copy log of %s: %w", s.id, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy log of %s: %w", s.id, err)
	}
	return out.Close()
}
