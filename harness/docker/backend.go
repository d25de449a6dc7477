package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/ares-torture/torture/harness"
)

// The docker backend registers itself; a command that imports this package
// gets `--backend docker`.
func init() {
	harness.RegisterBackend("docker", harness.Backend{
		New: func(ctx context.Context, cfg harness.ClusterConfig) (harness.Cluster, error) {
			return newFromConfig(cfg)
		},
		Clean: Clean,
	})
}

func newFromConfig(cfg harness.ClusterConfig) (*Cluster, error) {
	serverBin, err := findBinary(cfg.ServerBin, "ares-server", "")
	if err != nil {
		return nil, err
	}
	agentBin, err := findBinary("", "torture-agent", filepath.Dir(serverBin))
	if err != nil {
		return nil, err
	}
	return New(Options{
		RunID:     runIDFor(cfg.RunDir),
		Servers:   cfg.Pool,
		ServerBin: serverBin,
		AgentBin:  agentBin,
		ServerBug: cfg.ServerBug,
		Config0:   cfg.Config0,
		TraceDir:  cfg.TraceDir,
		TLS:       cfg.TLS,
		Logger:    cfg.Logger,
	})
}

// runIDFor derives a short run id from the run directory: its last element
// (start time and seed) and a hash of the whole path, so that two tests
// started in the same second with the same seed do not collide.
func runIDFor(runDir string) string {
	if runDir == "" {
		return ""
	}
	abs, err := filepath.Abs(runDir)
	if err != nil {
		abs = runDir
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Base(runDir) + "-" + hex.EncodeToString(sum[:3])
}

// findBinary resolves a binary: the given path, else name in dir (next to the
// server binary), next to the running executable, in ./bin, or on PATH.
func findBinary(given, name, dir string) (string, error) {
	if given != "" {
		if _, err := os.Stat(given); err != nil {
			return "", fmt.Errorf("docker backend: %w", err)
		}
		return given, nil
	}
	var tried []string
	cands := []string{}
	if dir != "" {
		cands = append(cands, filepath.Join(dir, name))
	}
	if exe, err := os.Executable(); err == nil {
		cands = append(cands, filepath.Join(filepath.Dir(exe), name))
	}
	cands = append(cands, filepath.Join("bin", name))
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c, nil
		}
		tried = append(tried, c)
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("docker backend: no %s binary (tried %v and PATH); run make build: %w", name, tried, os.ErrNotExist)
}
