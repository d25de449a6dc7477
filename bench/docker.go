package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/ares-torture/torture/harness"
)

// AddDocker adds the docker row: the same closed-loop run on the docker
// and the local backend, no faults, no tracing, each backend's TLS
// default; ops/s docker over local. off (--no-docker) skips it, and so
// does a docker that does not answer.
func (s *Session) AddDocker(ctx context.Context, off bool) {
	r := Row{ID: RowDocker, Name: "docker / local throughput (10 clients, 5 servers, a run)", Unit: "x"}
	switch {
	case off:
		r.Status, r.Note = Skipped, "skipped: --no-docker"
	case ctx.Err() != nil:
		r.Status, r.Note = Skipped, "skipped: interrupted"
	default:
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := exec.CommandContext(cctx, "docker", "info").Run()
		if err != nil {
			why := err.Error()
			if errors.Is(cctx.Err(), context.DeadlineExceeded) {
				why = "no answer within 20s"
			}
			r.Status, r.Note = Skipped, "skipped: docker unavailable (docker info: "+why+")"
		}
		cancel()
	}
	if r.Status != "" {
		s.add(r)
		return
	}
	store, err := s.dir("docker")
	if err != nil {
		s.fail(ctx, err, r)
		return
	}
	defer os.RemoveAll(store)
	span := s.Sizes.DockerTime
	fmt.Fprintf(s.Out, "docker: a run of %s on the docker backend, then on the local backend (no faults, no tracing)\n", span)
	ops := map[string]float64{}
	for _, backend := range []string{"docker", "local"} {
		o := harness.DefaultOptions()
		o.Backend, o.Store, o.ServerBin, o.Name, o.Seed = backend, store, s.ServerBin, "bench-all-"+backend, 1
		o.Time, o.Trace, o.Pool = harness.Duration(span), false, 5
		if err := o.Validate(); err != nil {
			s.fail(ctx, err, r)
			return
		}
		var buf strings.Builder
		res := harness.Run(ctx, o, harness.Env{Out: &buf, Args: s.Args})
		if res.Code != harness.ExitValid {
			s.fail(ctx, fmt.Errorf("%s run: %s: %s (%s)", backend, res.Verdict, res.Reason, orDash(res.RunDir)), r)
			return
		}
		ops[backend] = float64(res.Counts.Completed()) / span.Seconds()
		fmt.Fprintf(s.Out, "  %-6s %7.0f ops/s\n", backend, ops[backend])
		_ = os.RemoveAll(res.RunDir)
	}
	r.Value = F(ops["docker"] / ops["local"])
	r.LimitText = "- (baseline: local)"
	r.Detail = fmt.Sprintf("docker %.0f ops/s, local %.0f ops/s, %s each", ops["docker"], ops["local"], span)
	s.add(r)
}
