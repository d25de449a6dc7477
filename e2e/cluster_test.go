// Package e2e runs real ares-server processes on loopback and drives them
// through gRPC and through the ares command. The tests build both binaries
// themselves (into a temporary directory), so they work on a clean
// checkout; they are skipped under -short.
package e2e

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/ares/aresrpc"
)

// Paths of the binaries TestMain built ("" under -short).
var serverBin, cliBin string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if testing.Short() {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "ares-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	serverBin = filepath.Join(dir, "ares-server")
	cliBin = filepath.Join(dir, "ares")
	for bin, pkg := range map[string]string{serverBin: "../cmd/ares-server", cliBin: "../cmd/ares"} {
		cmd := exec.Command("go", "build", "-o", bin, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: go build %s: %v\n%s", pkg, err, out)
			return 1
		}
	}
	return m.Run()
}

func needBinaries(t testing.TB) {
	t.Helper()
	if testing.Short() || serverBin == "" {
		t.Skip("end-to-end test: runs real server processes (skipped with -short)")
	}
}

// server is one ares-server process that can be killed and restarted on the
// same address and data directory.
type server struct {
	id, addr, data, logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// start runs the process and waits for its "listening on" line. An empty
// addr asks for any free port; the real one is then kept for restarts.
func (s *server) start(t testing.TB, extra ...string) {
	t.Helper()
	listen := s.addr
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	args := append([]string{"--id", s.id, "--listen", listen, "--data", s.data}, extra...)
	cmd := exec.Command(serverBin, args...)
	cmd.Stderr = logf
	// If the test binary dies, so do its servers.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", s.id, err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				lines <- a
			}
		}
		close(lines)
	}()
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	select {
	case a, ok := <-lines:
		if !ok {
			<-done
			t.Fatalf("server %s exited before listening: %s", s.id, tail(s.logPath))
		}
		s.addr = a
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("server %s did not listen within 30s: %s", s.id, tail(s.logPath))
	}
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill(t testing.TB) {
	t.Helper()
	s.signal(t, syscall.SIGKILL)
}

func (s *server) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Errorf("server %s did not exit within 15s of %v", s.id, sig)
	}
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// cluster is n servers on loopback.
type cluster struct {
	servers []*server
}

func startCluster(t testing.TB, n int, extra ...string) *cluster {
	t.Helper()
	needBinaries(t)
	dir := t.TempDir()
	c := &cluster{}
	for i := range n {
		id := fmt.Sprintf("s%d", i+1)
		s := &server{id: id, data: filepath.Join(dir, id), logPath: filepath.Join(dir, id+".log")}
		c.servers = append(c.servers, s)
	}
	t.Cleanup(func() {
		for _, s := range c.servers {
			s.signal(t, syscall.SIGTERM)
		}
		if t.Failed() {
			for _, s := range c.servers {
				t.Logf("log of %s:\n%s", s.id, tail(s.logPath))
			}
		}
	})
	// Started one by one so each gets its own free port.
	for _, s := range c.servers {
		s.start(t, extra...)
	}
	return c
}

func (c *cluster) nodes() []ares.Node {
	ns := make([]ares.Node, len(c.servers))
	for i, s := range c.servers {
		ns[i] = ares.Node{ID: s.id, Addr: s.addr}
	}
	return ns
}

func (c *cluster) serverList() string {
	parts := make([]string, len(c.servers))
	for i, s := range c.servers {
		parts[i] = s.id + "=" + s.addr
	}
	return strings.Join(parts, ",")
}

func (c *cluster) config(dap ares.DAP, k int) *ares.Config {
	cfg := &ares.Config{Servers: c.nodes(), DAP: dap}
	if dap == ares.EC {
		cfg.K = k
	}
	return cfg
}

// newClient returns a client of the cluster's initial configuration over
// gRPC, and its transport for raw requests.
func newClient(t testing.TB, cfg *ares.Config, name string) (*ares.Client, *aresrpc.Transport) {
	t.Helper()
	tr := aresrpc.NewTransport()
	t.Cleanup(func() { _ = tr.Close() })
	c, err := ares.NewClient(ares.ClientOptions{ID: name, Initial: cfg, Transport: tr, Retry: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return c, tr
}

// dapCases are the two DAPs every end-to-end scenario runs with.
var dapCases = []struct {
	name string
	dap  ares.DAP
	k    int
	// f is how many servers may be down at once: ABD a minority, EC(5,3)
	// (n-k)/2.
	f int
}{
	{"abd", ares.ABD, 0, 2},
	{"ec-k3", ares.EC, 3, 1},
}

func opCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// describe makes req name cfg as a client does (index, DAP, digest and the
// description), since servers refuse requests that do not.
func describe(cfg *ares.Config, req *ares.Request) *ares.Request {
	req.Config, req.DAP, req.Digest, req.Described = cfg.ID, cfg.DAP, cfg.Digest(), cfg.Clone()
	return req
}
