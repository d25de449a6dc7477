package docker

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
)

// In-container span files, with Options.TraceDir. A server's is in its
// data volume: a server killed and restarted in place appends to the spans
// of its earlier lives (ares-server first cuts off a line torn by the
// SIGKILL). An agent is never killed; its file is in its container's own
// layer.
const (
	serverTraceFile = "/data/trace.json"
	agentTraceFile  = "/trace.json"
)

// stopGrace is how long Stop lets a container shut down on SIGTERM (the
// server lets requests finish for 5 s, then flushes its spans) before the
// engine SIGKILLs it.
const stopGrace = 15

// agentCmd is the command line of an agent container (c.mu held): its
// control listener on the control network only, and with TLS the
// certificate putCert copies in.
func (c *Cluster) agentCmd(n *node) []string {
	cmd := []string{"--listen", fmt.Sprintf(":%d", AgentPort), "--listen-subnet", c.ctlCIDR, "--name", n.name}
	if c.opts.TraceDir != "" {
		cmd = append(cmd, "--trace-file", agentTraceFile)
	}
	if c.opts.TLS != nil {
		cmd = append(cmd, containerTLS()...)
	}
	return cmd
}

// collectTraces stops every container of the run with SIGTERM, so that
// each process flushes its spans, and copies each one's span file to
// TraceDir/<node>.json. A container without a file (one that never
// started) is skipped.
func (c *Cluster) collectTraces(ctx context.Context) error {
	if err := os.MkdirAll(c.opts.TraceDir, 0o755); err != nil {
		return err
	}
	ctrs, err := c.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: runFilter(c.runID)})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		n    int
	)
	sem := make(chan struct{}, 8)
	for _, ct := range ctrs {
		name, role := ct.Labels[LabelNode], ct.Labels[LabelRole]
		src := serverTraceFile
		switch {
		case name == "":
			continue
		case role == "agent":
			src = agentTraceFile
		case role != "server":
			continue
		}
		dst := filepath.Join(c.opts.TraceDir, unsafeName.ReplaceAllString(name, "-")+".json")
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ok, err := c.copyTrace(ctx, ct, src, dst)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
			if ok {
				n++
			}
		}()
	}
	wg.Wait()
	c.log.Debug("collected spans", "files", n, "dir", c.opts.TraceDir)
	return errors.Join(errs...)
}

// copyTrace stops one container and copies its span file src to dst;
// false when it has none.
func (c *Cluster) copyTrace(ctx context.Context, ct container.Summary, src, dst string) (bool, error) {
	if ct.State == "paused" {
		// A frozen process cannot take its SIGTERM.
		if err := c.cli.ContainerUnpause(ctx, ct.ID); err != nil {
			return false, fmt.Errorf("unpause: %w", err)
		}
	}
	grace := stopGrace
	if err := c.cli.ContainerStop(ctx, ct.ID, container.StopOptions{Timeout: &grace}); err != nil && !cerrdefs.IsNotFound(err) {
		return false, fmt.Errorf("stop: %w", err)
	}
	rd, _, err := c.cli.CopyFromContainer(ctx, ct.ID, src)
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("copy %s: %w", src, err)
	}
	defer rd.Close()
	tr := tar.NewReader(rd)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return false, fmt.Errorf("copy %s: not in the archive", src)
		}
		if err != nil {
			return false, fmt.Errorf("copy %s: %w", src, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if err := writeFrom(dst, tr); err != nil {
			return false, err
		}
		return true, nil
	}
}

// writeFrom writes r's content to a new file path.
func writeFrom(path string, r io.Reader) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
