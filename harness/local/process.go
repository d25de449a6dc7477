package local

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/ares-torture/torture/pki"
)

// Environment markers on every server process: `torture clean` finds
// leftovers of earlier runs by them, and kills only those whose controller
// is gone.
const (
	EnvOwner  = "ARES_TORTURE_OWNER" // pid of the controller
	EnvRunDir = "ARES_TORTURE_RUN"   // the run directory
)

// server is one ares-server process of the pool, restartable on the same
// port and data directory.
type server struct {
	id      string
	addr    string // 127.0.0.1:port, the same across restarts
	unix    string // its Unix socket (abstract), where this cluster's clients connect
	dir     string // RUN_DIR/nodes/<id>
	bin     string
	bug     string
	trace   string      // --trace-file, or ""
	config0 []string    // the flags that tell it configuration 0, or nil
	tls     pki.Files   // its certificate (--tls-*); zero: plaintext
	probe   *tls.Config // the readiness probe's handshake; nil: plaintext
	runDir  string
	procs   string // its GOMAXPROCS (harness.ServerProcs); "": the runtime's default
	logger  *slog.Logger
	argsFor func(s *server) []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd exits
	paused bool
	killed bool // by us, on purpose: an exit is expected
}

func (s *server) dataDir() string { return filepath.Join(s.dir, "data") }
func (s *server) logPath() string { return filepath.Join(s.dir, "server.log") }

// start launches the process and waits until it accepts connections.
func (s *server) start(ctx context.Context) error {
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		return nil
	}
	if err := os.MkdirAll(s.dataDir(), 0o755); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("server %s: %w", s.id, err)
	}
	logf, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("server %s: open log: %w", s.id, err)
	}
	fmt.Fprintf(logf, "---- torture: starting %s on %s at %s\n", s.id, s.addr, time.Now().Format(time.RFC3339Nano))
	// Not exec.CommandContext: the process outlives the ctx of one call.
	cmd := exec.Command(s.bin, s.argsFor(s)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(),
		EnvOwner+"="+strconv.Itoa(os.Getpid()),
		EnvRunDir+"="+s.runDir)
	if s.procs != "" {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+s.procs)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group, so signals reach the server and whatever it
		// starts, and a Ctrl-C at the terminal reaches only the controller,
		// which then stops the servers in order.
		Setpgid: true,
		// Should the controller die without stopping the pool, the kernel
		// kills the servers; `torture clean` is the second line.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		logf.Close()
		return fmt.Errorf("server %s: start %s: %w", s.id, s.bin, err)
	}
	done := make(chan struct{})
	s.cmd, s.done, s.paused, s.killed = cmd, done, false, false
	pid := cmd.Process.Pid
	// For a person (and the tests) looking for what a run left running.
	_ = os.WriteFile(filepath.Join(s.dir, "pid"), []byte(strconv.Itoa(pid)+"\n"), 0o644)
	_ = os.WriteFile(filepath.Join(s.dir, "addr"), []byte(s.addr+"\n"), 0o644)
	s.mu.Unlock()
	registerPID(pid)

	go func() {
		err := cmd.Wait()
		logf.Close()
		unregisterPID(pid)
		s.mu.Lock()
		expected := s.killed
		if s.cmd == cmd {
			s.cmd = nil
		}
		s.mu.Unlock()
		if !expected {
			s.logger.Warn("server exited on its own", "server", s.id, "pid", pid, "err", err, "log", s.logPath())
		}
		close(done)
	}()
	return s.waitReady(ctx, done)
}

// waitReady waits until the server's port accepts a connection and, with
// TLS, completes a handshake in which the server shows a certificate of
// the run's CA for its address (a server started with the wrong files
// fails here, not at the first operation).
func (s *server) waitReady(ctx context.Context, done <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var d interface {
		DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	} = &net.Dialer{}
	if s.probe != nil {
		d = &tls.Dialer{Config: s.probe}
	}
	for {
		// Each try bounded: a handshake with a server that accepted but
		// does not answer would otherwise take the whole wait.
		dctx, dcancel := context.WithTimeout(ctx, time.Second)
		c, err := d.DialContext(dctx, "tcp", s.addr)
		dcancel()
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("server %s exited during start-up (see %s)", s.id, s.logPath())
		case <-ctx.Done():
			return fmt.Errorf("server %s not serving on %s: %w (last: %v; see %s)", s.id, s.addr, ctx.Err(), err, s.logPath())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *server) signalLocked(sig syscall.Signal) error {
	if s.cmd == nil {
		return fmt.Errorf("server %s is not running", s.id)
	}
	pid := s.cmd.Process.Pid
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("server %s: %v: %w", s.id, sig, err)
	}
	return nil
}

// kill SIGKILLs the server and waits for it to be gone. Killing a server
// that is not running is a no-op.
func (s *server) kill(ctx context.Context) error {
	s.mu.Lock()
	if s.cmd == nil {
		s.mu.Unlock()
		return nil
	}
	s.killed = true
	done := s.done
	err := s.signalLocked(syscall.SIGKILL)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case <-done:
		s.mu.Lock()
		s.paused = false
		s.mu.Unlock()
		return nil
	case <-ctx.Done():
		return fmt.Errorf("server %s: waiting for exit: %w", s.id, ctx.Err())
	}
}

// restart starts a killed server on the same port and data directory; a
// running server is left alone. The port can be taken by another socket
// in between, so a failed start is tried again a few times.
func (s *server) restart(ctx context.Context) error {
	var err error
	for try := 0; try < 5; try++ {
		if err = s.start(ctx); err == nil {
			return nil
		}
		// start leaves no process behind on failure, except one that came
		// up too slowly: make sure of it before trying again.
		_ = s.kill(ctx)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
	return err
}

func (s *server) pause() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paused {
		return nil
	}
	if err := s.signalLocked(syscall.SIGSTOP); err != nil {
		return err
	}
	s.paused = true
	return nil
}

func (s *server) resume() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.paused || s.cmd == nil {
		s.paused = false
		return nil
	}
	if err := s.signalLocked(syscall.SIGCONT); err != nil {
		return err
	}
	s.paused = false
	return nil
}

// freePorts returns n loopback addresses with ports nobody listens on now,
// all different: every listener stays open until all n are chosen, or the
// kernel may hand a port just closed out again (two servers of one run
// were seen given the same port).
func freePorts(n int) ([]string, error) {
	addrs := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

// live holds the pids of every server this process started and has not
// seen exit, for KillAll; closed is set by KillAll, after which a server
// that was being started is killed as soon as it is registered.
var live = struct {
	sync.Mutex
	pids   map[int]bool
	closed bool
}{pids: map[int]bool{}}

func registerPID(pid int) {
	live.Lock()
	live.pids[pid] = true
	if live.closed {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	live.Unlock()
}

func unregisterPID(pid int) {
	live.Lock()
	delete(live.pids, pid)
	live.Unlock()
}

// killAllWait bounds KillAll's wait for the killed servers to be reaped.
const killAllWait = 5 * time.Second

// KillAll SIGKILLs the process group of every server this process started
// and that still runs, and every one registered after, and waits (a few
// seconds at most) until each is reaped. It is the last resort of a
// repeated interrupt, when the orderly Stop is not awaited; the process
// exits right after, so returning while a server still runs would count
// it among the leftovers of whoever looks next.
func KillAll() {
	live.Lock()
	live.closed = true
	for pid := range live.pids {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	live.Unlock()
	deadline := time.Now().Add(killAllWait)
	for time.Now().Before(deadline) {
		live.Lock()
		n := len(live.pids)
		live.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
