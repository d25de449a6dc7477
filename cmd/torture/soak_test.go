package main

// The signal soak (issue 13, "no leaks on any signal"): real torture
// processes on the local and docker backends, interrupted by every kind of
// signal a person or a supervisor sends, at moments during set-up and
// during the run; after each, nothing of the run may be left: no
// container, network or volume carrying its controller's owner label, no
// ares-server process carrying its controller's pid.
//
// The short version (a fixed list of scenarios, 20-30 s) runs with
// the other integration tests. The long version draws -soak-runs random
// scenarios:
//
//	go test ./cmd/torture -run 'TestSoak$' -soak-runs=100 -timeout 0 -v

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/harness/docker"
	"github.com/ares-torture/torture/harness/local"
)

var (
	soakRuns     = flag.Int("soak-runs", 0, "TestSoak: this many random scenarios instead of the short fixed list")
	soakSeed     = flag.Uint64("soak-seed", 0, "TestSoak: seed of the scenarios' random choices (0: from the clock, logged)")
	soakParallel = flag.Int("soak-parallel", 3, "TestSoak: scenarios run at once")
	soakBin      = flag.String("soak-bin", "", "TestSoak: take torture, ares-server and torture-agent (static) from this folder instead of building them")
)

// soakPattern is how a scenario signals the controller.
type soakPattern string

const (
	sigINT    soakPattern = "SIGINT"
	sigTERM   soakPattern = "SIGTERM"
	sigDouble soakPattern = "double SIGINT 20ms apart"  // a hurried Ctrl-C Ctrl-C: one interrupt
	sigGroup  soakPattern = "SIGTERM to pid and group"  // what GNU timeout does: one interrupt
	sigLate   soakPattern = "SIGINT, SIGINT 1.1s later" // past the grace: kill at once if still stopping
	// The controller is frozen (SIGSTOP) 20ms into its orderly stop and
	// thawed after the second SIGINT, 1.2s later: the kill-at-once path
	// runs, racing the orderly stop it interrupts.
	sigFrozen soakPattern = "SIGINT, SIGSTOP, SIGINT 1.2s later, SIGCONT"
)

var soakPatterns = []soakPattern{sigINT, sigTERM, sigDouble, sigGroup, sigLate, sigFrozen}

// soakScenario is one controller run and how it is interrupted.
type soakScenario struct {
	backend string
	pattern soakPattern
	// running: after the run has recorded operations; otherwise during
	// set-up, delay after the controller's first line.
	running bool
	delay   time.Duration
}

func (s soakScenario) String() string {
	when := "set-up"
	if s.running {
		when = "running"
	}
	return fmt.Sprintf("%s/%s/%s+%s", s.backend, s.pattern, when, s.delay)
}

// soakResult is what a scenario left.
type soakResult struct {
	code      int
	killed    bool // the kill-at-once path ran
	leftovers []string
	err       error
}

func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: builds torture and runs clusters")
	}
	dir := *soakBin
	if dir == "" {
		dir = t.TempDir()
		// Static binaries: the docker image is FROM scratch.
		cmd := exec.Command("go", "build", "-o", dir+"/", ".", "../ares-server", "../torture-agent")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build: %v\n%s", err, b)
		}
	} else if d, err := filepath.Abs(dir); err == nil {
		dir = d // the test runs in its package's folder
	}
	backends := []string{"local"}
	var cli client.APIClient // nil: no docker
	dc, err := docker.NewDockerClient()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = dc.Ping(ctx)
		cancel()
	}
	if err == nil {
		backends = append(backends, "docker")
		cli = dc
		defer dc.Close()
	} else {
		t.Logf("docker not reachable, local backend only: %v", err)
	}

	seed := *soakSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("soak seed %d (-soak-seed to repeat)", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	var scens []soakScenario
	if *soakRuns > 0 {
		for range *soakRuns {
			scens = append(scens, soakScenario{
				backend: backends[rng.IntN(len(backends))],
				pattern: soakPatterns[rng.IntN(len(soakPatterns))],
				running: rng.IntN(3) == 0,
				delay:   time.Duration(rng.Int64N(int64(3 * time.Second))),
			})
		}
	} else {
		// Every pattern on every backend during set-up (where creates
		// race the interrupt); while running, the patterns of two
		// signals (a lone one while running is TestInterrupt's).
		for _, b := range backends {
			for _, p := range soakPatterns {
				scens = append(scens, soakScenario{backend: b, pattern: p,
					delay: time.Duration(rng.Int64N(int64(1500 * time.Millisecond)))})
				if p == sigGroup || p == sigLate || p == sigFrozen {
					scens = append(scens, soakScenario{backend: b, pattern: p, running: true,
						delay: time.Duration(rng.Int64N(int64(500 * time.Millisecond)))})
				}
			}
		}
	}

	results := make([]soakResult, len(scens))
	sem := make(chan struct{}, max(*soakParallel, 1))
	var wg sync.WaitGroup
	t0 := time.Now()
	for i, s := range scens {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = soakOne(t, dir, cli, s, i)
		})
	}
	wg.Wait()

	signals, leftovers, killed := 0, 0, 0
	for i, s := range scens {
		r := results[i]
		signals += soakSignals(s.pattern)
		leftovers += len(r.leftovers)
		if r.killed {
			killed++
		}
		if r.err != nil {
			t.Errorf("%s: %v", s, r.err)
			continue
		}
		// An interrupted run is unknown (2), during set-up too; a
		// violation (1) cannot be, the protocol has no bug switched on.
		if r.code != harness.ExitUnknown {
			t.Errorf("%s: exit %d, want %d", s, r.code, harness.ExitUnknown)
		}
		for _, l := range r.leftovers {
			t.Errorf("%s: left %s", s, l)
		}
	}
	t.Logf("soak: %d runs, %d signals, %d took the kill-at-once path, %d leftovers, %s", len(scens), signals, killed, leftovers, time.Since(t0).Round(time.Second))
}

func soakSignals(p soakPattern) int {
	if p == sigINT || p == sigTERM {
		return 1
	}
	return 2
}

// soakOne runs one scenario and lists what its controller left behind.
func soakOne(t *testing.T, bin string, cli client.APIClient, s soakScenario, i int) soakResult {
	store := filepath.Join(t.TempDir(), "store")
	args := []string{"run", "--backend", s.backend, "--store", store, "--seed", fmt.Sprint(i + 1),
		"--time", "60s", "--nemesis", "all", "--nemesis-interval", "500ms", "--op-timeout", "1s",
		"--servers", "3", "--pool", "4", "--clients", "3", "--trace=false",
		"--server-bin", filepath.Join(bin, "ares-server")}
	cmd := exec.Command(filepath.Join(bin, "torture"), args...)
	// Its own process group, as a shell gives a job: the group signal
	// of GNU timeout then reaches the controller and nothing of the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return soakResult{err: err}
	}
	if err := cmd.Start(); err != nil {
		return soakResult{err: err}
	}
	pid := cmd.Process.Pid
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var out []string
	fail := func(format string, a ...any) soakResult {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = cmd.Wait()
		msg := fmt.Sprintf(format, a...)
		return soakResult{err: fmt.Errorf("%s\nstdout:\n%s\nstderr:\n%s", msg, strings.Join(out, "\n"), stderr.String())}
	}
	// The first line names the run directory; by then the controller
	// handles signals (an earlier one would kill it by default, which is
	// no case of ours).
	runDir := ""
	deadline := time.After(30 * time.Second)
	for runDir == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				return fail("exited before its first line")
			}
			out = append(out, l)
			if j := strings.Index(l, " run="); j >= 0 {
				runDir = strings.TrimSpace(l[j+len(" run="):])
			}
		case <-deadline:
			return fail("no first line in 30s")
		}
	}
	if s.running {
		// Generous: a docker cluster of 4 servers and 4 agents takes
		// seconds to come up on two shared cores.
		wait := time.Now().Add(90 * time.Second)
		for !hasOps(runDir, 1) {
			if time.Now().After(wait) {
				return fail("no operation recorded in 90s")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(s.delay)
	sig := func(target int, sg syscall.Signal) {
		_ = syscall.Kill(target, sg)
	}
	switch s.pattern {
	case sigINT:
		sig(pid, syscall.SIGINT)
	case sigTERM:
		sig(pid, syscall.SIGTERM)
	case sigDouble:
		sig(pid, syscall.SIGINT)
		time.Sleep(20 * time.Millisecond)
		sig(pid, syscall.SIGINT)
	case sigGroup:
		sig(pid, syscall.SIGTERM)
		sig(-pid, syscall.SIGTERM)
	case sigLate:
		sig(pid, syscall.SIGINT)
		time.Sleep(1100 * time.Millisecond)
		sig(pid, syscall.SIGINT)
	case sigFrozen:
		sig(pid, syscall.SIGINT)
		time.Sleep(20 * time.Millisecond)
		sig(pid, syscall.SIGSTOP)
		time.Sleep(1200 * time.Millisecond)
		sig(pid, syscall.SIGINT)
		sig(pid, syscall.SIGCONT)
	}
	done := make(chan error, 1)
	go func() {
		for l := range lines {
			out = append(out, l)
		}
		done <- cmd.Wait()
	}()
	select {
	case err = <-done:
	case <-time.After(120 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-done
		return soakResult{err: fmt.Errorf("did not exit within 120s of the signal\nstdout:\n%s\nstderr:\n%s",
			strings.Join(out, "\n"), stderr.String())}
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		return soakResult{err: err}
	}
	res := soakResult{code: code, killed: strings.Contains(stderr.String(), "again: killing")}
	if !strings.Contains(out[len(out)-1], " run=") {
		res.err = fmt.Errorf("exit %d: the last line is no verdict\nstdout:\n%s\nstderr:\n%s", code, strings.Join(out, "\n"), stderr.String())
	}
	// Counted at once, no retry: the controller removes everything
	// before it exits.
	res.leftovers = soakLeftovers(t, cli, pid)
	t.Logf("%s: exit %d, killed at once %v, %d leftovers: %s", s, code, res.killed, len(res.leftovers), out[len(out)-1])
	if code != harness.ExitUnknown || len(res.leftovers) > 0 {
		t.Logf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", s, code, strings.Join(out, "\n"), stderr.String())
	}
	return res
}

// soakLeftovers lists the ares-server processes and docker resources whose
// owner is controller pid.
func soakLeftovers(t *testing.T, cli client.APIClient, pid int) []string {
	var out []string
	left, err := local.Leftovers()
	if err != nil {
		t.Errorf("list processes: %v", err)
	}
	for _, l := range left {
		if l.Owner == pid {
			out = append(out, fmt.Sprintf("ares-server pid %d", l.PID))
		}
	}
	if cli == nil {
		return out
	}
	host, _ := os.Hostname()
	mine := func(labels map[string]string) bool {
		return strings.HasPrefix(labels[docker.LabelOwner], fmt.Sprintf("%s:%d:", host, pid))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", docker.LabelProject+"="+docker.ProjectValue))
	ctrs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Errorf("list containers: %v", err)
	}
	for _, c := range ctrs {
		if mine(c.Labels) {
			out = append(out, "container "+strings.Join(c.Names, ","))
		}
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		t.Errorf("list networks: %v", err)
	}
	for _, n := range nets {
		if mine(n.Labels) {
			out = append(out, "network "+n.Name)
		}
	}
	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		t.Errorf("list volumes: %v", err)
	}
	for _, v := range vols.Volumes {
		if mine(v.Labels) {
			out = append(out, "volume "+v.Name)
		}
	}
	return out
}
