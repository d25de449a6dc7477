package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/ares-torture/torture/harness"
)

func init() {
	harness.RegisterBackend("local", harness.Backend{
		New: func(ctx context.Context, cfg harness.ClusterConfig) (harness.Cluster, error) {
			return New(Options{RunDir: cfg.RunDir, Pool: cfg.Pool, ServerBin: cfg.ServerBin, Config0: cfg.Config0,
				ServerBug: cfg.ServerBug, Logger: cfg.Logger, Tracer: cfg.Tracer, TraceDir: cfg.TraceDir, TLS: cfg.TLS})
		},
		Clean: func(ctx context.Context, log *slog.Logger) error {
			_, err := Clean(log)
			return err
		},
	})
}

// Leftover is a server process of an earlier run.
type Leftover struct {
	PID    int
	Owner  int    // the controller that started it
	RunDir string // where its data and log are
}

// Leftovers lists the server processes started by controllers that are
// gone, found by the environment markers every server carries. Servers of
// a controller still running are not leftovers.
func Leftovers() ([]Leftover, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var out []Leftover
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue // gone, or not ours to read
		}
		var owner int
		var runDir string
		for _, kv := range bytes.Split(env, []byte{0}) {
			k, v, _ := strings.Cut(string(kv), "=")
			switch k {
			case EnvOwner:
				owner, _ = strconv.Atoi(v)
			case EnvRunDir:
				runDir = v
			}
		}
		if owner == 0 || alive(owner) {
			continue
		}
		out = append(out, Leftover{PID: pid, Owner: owner, RunDir: runDir})
	}
	return out, nil
}

// alive reports whether a process exists (a zombie counts as gone).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	st, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses: "pid (comm) S ...".
	if i := bytes.LastIndexByte(st, ')'); i >= 0 && i+2 < len(st) {
		return st[i+2] != 'Z'
	}
	return true
}

// Clean kills every leftover server process (SIGKILL to its process
// group) and returns what it killed.
func Clean(log *slog.Logger) ([]Leftover, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	left, err := Leftovers()
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, l := range left {
		if err := syscall.Kill(-l.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			// Not a group leader after all: the process itself.
			if err := syscall.Kill(l.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				errs = append(errs, fmt.Errorf("kill %d: %w", l.PID, err))
				continue
			}
		}
		log.Info("killed leftover ares-server", "pid", l.PID, "owner", l.Owner, "run", l.RunDir)
	}
	return left, errors.Join(errs...)
}
