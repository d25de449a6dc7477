package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// Stop copies every container's log to logDir/<node>/ (server.log or
// agent.log), with Options.TraceDir set stops the containers with SIGTERM
// and copies their spans to TraceDir/<node>.json, and removes the run's
// containers, volumes and networks. It finds them by label, so it also
// cleans up after a partial Start, and it may be called again. It runs to the end even if ctx is cancelled (the
// Ctrl-C path), bounded by its own timeout.
func (c *Cluster) Stop(ctx context.Context, logDir string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	if c.opts.TraceDir != "" {
		// Spans are a help, not the run's result: failing to collect
		// them is logged, and the containers are removed all the same.
		if err := c.collectTraces(ctx); err != nil {
			c.log.Warn("collect spans", "err", err)
		}
	}
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
		if err := removeNetwork(ctx, cli, nw.ID); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", nw.Name, err))
		}
	}
	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		errs = append(errs, fmt.Errorf("list volumes: %w", err))
	}
	for _, v := range vols.Volumes {
		if err := cli.VolumeRemove(ctx, v.Name, true); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove volume %s: %w", v.Name, err))
		}
	}
	log.Debug("removed resources", "containers", len(ctrs), "networks", len(nets), "volumes", len(vols.Volumes))
	return errors.Join(errs...)
}

// removeNetwork removes a network whose containers are gone. The engine
// may still hold an endpoint of a container it has just removed ("has
// active endpoints": a run's Stop failed so, once in a few dozen): such
// endpoints are disconnected by force and the removal tried again, for a
// few seconds.
func removeNetwork(ctx context.Context, cli client.APIClient, id string) error {
	var err error
	for try := 0; try < 10; try++ {
		if err = cli.NetworkRemove(ctx, id); err == nil || !strings.Contains(err.Error(), "active endpoints") {
			return err
		}
		if insp, ierr := cli.NetworkInspect(ctx, id, network.InspectOptions{}); ierr == nil {
			// A stale endpoint is listed under "ep-<id>" with the gone
			// container's name, which is what a forced disconnect takes.
			for key, ep := range insp.Containers {
				if cli.NetworkDisconnect(ctx, id, ep.Name, true) != nil {
					_ = cli.NetworkDisconnect(ctx, id, key, true)
				}
			}
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(300 * time.Millisecond):
		}
	}
	return err
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
	if err := cli.ContainerRemove(ctx, ct.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
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
