package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

// Clean removes the containers, networks, volumes and iptables rules that
// earlier runs left behind (a crash, a kill -9 of the controller). Runs whose
// controller process is still alive on this host are left alone, so Clean is
// safe while another run goes on.
func Clean(ctx context.Context, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	cli, err := NewDockerClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	return CleanWith(ctx, cli, log, false)
}

// CleanWith is Clean with a given engine client; all also removes the
// resources of runs that look alive (another host's, or a live process's).
func CleanWith(ctx context.Context, cli client.APIClient, log *slog.Logger, all bool) error {
	if _, err := cli.Ping(ctx); err != nil {
		return fmt.Errorf("docker clean: engine not reachable: %w", err)
	}
	runs, live, err := leftoverRuns(ctx, cli)
	if err != nil {
		return err
	}
	if all {
		runs, live = append(runs, live...), nil
	}
	var errs []error
	for _, run := range runs {
		log.Info("removing leftovers of an earlier run", "run", run)
		if err := removeRun(ctx, cli, runFilter(run), "", log); err != nil {
			errs = append(errs, fmt.Errorf("run %s: %w", run, err))
		}
	}
	for _, run := range live {
		log.Info("leaving a run whose controller may still run (use --all to remove it too)", "run", run)
	}
	if err := cleanHostRules(ctx, log); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("docker clean: %w", err)
	}
	return nil
}

// leftoverRuns lists the run ids of every project resource, split into those
// to remove and those whose owner is alive.
func leftoverRuns(ctx context.Context, cli client.APIClient) (dead, live []string, err error) {
	owners := map[string]string{} // run -> owner label
	f := projectFilter()
	ctrs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, nil, fmt.Errorf("docker clean: list containers: %w", err)
	}
	for _, c := range ctrs {
		owners[c.Labels[LabelRun]] = c.Labels[LabelOwner]
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return nil, nil, fmt.Errorf("docker clean: list networks: %w", err)
	}
	for _, n := range nets {
		owners[n.Labels[LabelRun]] = n.Labels[LabelOwner]
	}
	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return nil, nil, fmt.Errorf("docker clean: list volumes: %w", err)
	}
	for _, v := range vols.Volumes {
		owners[v.Labels[LabelRun]] = v.Labels[LabelOwner]
	}
	for run, own := range owners {
		if run == "" {
			continue // never made by this backend
		}
		if ownerAlive(own) {
			live = append(live, run)
		} else {
			dead = append(dead, run)
		}
	}
	slices.Sort(dead)
	slices.Sort(live)
	return dead, live, nil
}

// cleanHostRules removes rules with the project comment from the host's own
// tables. The backend only ever puts rules in agents' namespaces, which die
// with them, so this finds nothing unless something went wrong; it checks
// anyway, and a host without iptables has nothing to clean.
func cleanHostRules(ctx context.Context, log *slog.Logger) error {
	if _, err := exec.LookPath("iptables-save"); err != nil {
		return nil
	}
	out, err := exec.CommandContext(ctx, "iptables-save").Output()
	if err != nil {
		return fmt.Errorf("iptables-save: %w", err)
	}
	var errs []error
	for _, r := range findProjectRules(string(out)) {
		args := r.deleteArgs()
		log.Info("removing a leftover iptables rule on the host", "rule", args)
		if b, err := exec.CommandContext(ctx, "iptables", args...).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("iptables %v: %w: %s", args, err, b))
		}
	}
	return errors.Join(errs...)
}

// Leftovers lists every container, network and volume of the project still
// on the engine, of any run, as "kind name (run id)". The nightly calls it
// after its last run: anything listed is a run that did not clean up.
func Leftovers(ctx context.Context, cli client.APIClient) ([]string, error) {
	f := projectFilter()
	var out []string
	ctrs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range ctrs {
		out = append(out, fmt.Sprintf("container %s (run %s)", strings.Join(c.Names, ","), c.Labels[LabelRun]))
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range nets {
		out = append(out, fmt.Sprintf("network %s (run %s)", n.Name, n.Labels[LabelRun]))
	}
	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	for _, v := range vols.Volumes {
		out = append(out, fmt.Sprintf("volume %s (run %s)", v.Name, v.Labels[LabelRun]))
	}
	if save, err := exec.CommandContext(ctx, "iptables-save").Output(); err == nil {
		for _, r := range findProjectRules(string(save)) {
			out = append(out, fmt.Sprintf("host iptables rule %s", strings.Join(r.args, " ")))
		}
	}
	return out, nil
}
