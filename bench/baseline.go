package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Baseline is another build's binaries (DIR/torture and DIR/ares-server),
// driven through what they offer: `torture bench overhead`, `torture
// check` and `torture bench bugs`, all there since before issue 14. The
// figures they write are read back from their JSON files.
type Baseline struct {
	Dir     string
	Torture string
	Server  string
	// Version is DIR/COMMIT when present, else ares-server --version.
	Version string
}

// OpenBaseline checks that dir holds both binaries.
func OpenBaseline(ctx context.Context, dir string) (*Baseline, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b := &Baseline{Dir: abs, Torture: filepath.Join(abs, "torture"), Server: filepath.Join(abs, "ares-server")}
	for _, p := range []string{b.Torture, b.Server} {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		if st.IsDir() || st.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("baseline: %s is not an executable", p)
		}
	}
	if c, err := os.ReadFile(filepath.Join(abs, "COMMIT")); err == nil {
		b.Version = "commit " + strings.TrimSpace(string(c))
	} else {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		out, err := exec.CommandContext(cctx, b.Server, "--version").CombinedOutput()
		if err == nil {
			b.Version = strings.TrimSpace(string(out))
		}
	}
	return b, nil
}

// run runs the baseline's torture with args and returns its exit code;
// log receives its output. Only exit codes in ok are not errors.
func (b *Baseline) run(ctx context.Context, log *bytes.Buffer, ok []int, args ...string) (int, error) {
	cmd := exec.CommandContext(ctx, b.Torture, args...)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group, so that Ctrl-C of ours is one signal it
	// gets once (from CommandContext), and it stops its servers itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 30 * time.Second
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	for _, c := range ok {
		if code == c {
			return code, nil
		}
	}
	if err == nil {
		err = fmt.Errorf("exit %d", code)
	}
	return code, fmt.Errorf("baseline torture %s: %w: %s", strings.Join(args, " "), err, lastLines(log.String(), 5))
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, " | ")
}

// newest decodes the newest file of store/bench matching pattern into v.
func newest(store, pattern string, v any) error {
	files, err := filepath.Glob(filepath.Join(store, "bench", pattern))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("baseline: no %s in %s/bench", pattern, store)
	}
	b, err := os.ReadFile(files[len(files)-1]) // names sort by start time
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// ThroughputShape is a closed-loop measurement on a local cluster.
type ThroughputShape struct {
	Time                   time.Duration
	Clients, Servers, Keys int
}

// Overhead runs one round of the baseline's `torture bench overhead`:
// the ops/s of its clients proxied and recorded (as in a run), and direct
// and unrecorded. store is a fresh folder for its files.
func (b *Baseline) Overhead(ctx context.Context, store string, s ThroughputShape) (recorded, direct float64, err error) {
	var log bytes.Buffer
	if _, err := b.run(ctx, &log, []int{0}, "bench", "overhead", "--time", s.Time.String(), "--rounds", "1",
		"--clients", strconv.Itoa(s.Clients), "--servers", strconv.Itoa(s.Servers), "--keys", strconv.Itoa(s.Keys),
		"--store", store, "--server-bin", b.Server); err != nil {
		return 0, 0, err
	}
	var f struct {
		Summary struct {
			A *float64 `json:"median_a_ops_per_sec"`
			B *float64 `json:"median_b_ops_per_sec"`
		} `json:"summary"`
	}
	if err := newest(store, "overhead-*.json", &f); err != nil {
		return 0, 0, err
	}
	if f.Summary.A == nil || f.Summary.B == nil {
		return 0, 0, errors.New("baseline bench overhead: no figures in its file")
	}
	return *f.Summary.A, *f.Summary.B, nil
}

// Check times the baseline's `torture check` of a stored run, its
// results into out (a new folder). Its verdict is returned too: a
// baseline that cannot read the history makes no figure.
func (b *Baseline) Check(ctx context.Context, runDir, out string) (time.Duration, string, error) {
	var log bytes.Buffer
	t0 := time.Now()
	code, err := b.run(ctx, &log, []int{0, 1, 2}, "check", runDir, "--out", out)
	d := time.Since(t0)
	if err != nil {
		return 0, "", err
	}
	verdict := map[int]string{0: "valid", 1: "invalid", 2: "unknown"}[code]
	return d, verdict, nil
}

// BugFigure is one bug's line of `torture bench bugs`.
type BugFigure struct {
	Bug         string   `json:"bug"`
	Runs        int      `json:"runs"`
	Found       int      `json:"found"`
	RunsToFirst *int     `json:"runs_to_first_found,omitempty"`
	WallToFindS *float64 `json:"wall_to_find_s,omitempty"`
	WallMedianS *float64 `json:"wall_median_s,omitempty"`
}

// Bugs runs the baseline's `torture bench bugs --backend sim` over seeds
// 1..seeds for each bug ("all" in one go when bugs is nil).
func (b *Baseline) Bugs(ctx context.Context, store string, seeds int, bugs []string) (map[string]BugFigure, error) {
	names := bugs
	if len(names) == 0 {
		names = []string{"all"}
	}
	out := map[string]BugFigure{}
	for i, name := range names {
		st := filepath.Join(store, strconv.Itoa(i))
		var log bytes.Buffer
		if _, err := b.run(ctx, &log, []int{0}, "bench", "bugs", "--backend", "sim", "--seeds", strconv.Itoa(seeds),
			"--bug", name, "--store", st); err != nil {
			return out, err
		}
		var f struct {
			Summary []BugFigure `json:"summary"`
		}
		if err := newest(st, "bugs-*.json", &f); err != nil {
			return out, err
		}
		for _, s := range f.Summary {
			out[s.Bug] = s
		}
	}
	return out, nil
}

// TablesShape is bench tables' Table II cell that `bench all` measures.
type TablesShape struct {
	Servers, K, Reads, Pending int
	Size                       int64
}

// PendingRead runs the baseline's `torture bench tables --tables 2` (EC,
// one size) and returns the medians, in milliseconds, of a fresh reader's
// ARES read after Pending pending configurations and one finalized:
// plain, and with PB and GC. It also measures the finalized scenario,
// which it cannot leave out, and ignores it.
func (b *Baseline) PendingRead(ctx context.Context, store string, s TablesShape) (plain, pbgc float64, err error) {
	var log bytes.Buffer
	if _, err := b.run(ctx, &log, []int{0}, "bench", "tables", "--tables", "2", "--t2-dap", "ec",
		"--servers", strconv.Itoa(s.Servers), "--k", strconv.Itoa(s.K), "--reads", strconv.Itoa(s.Reads),
		"--pending", strconv.Itoa(s.Pending), "--t2-sizes", strconv.FormatInt(s.Size, 10), "--store", store); err != nil {
		return 0, 0, err
	}
	var f struct {
		Table2 []struct {
			Scenario string `json:"scenario"`
			Size     int64  `json:"size"`
			Cells    map[string]struct {
				Reads  int     `json:"reads"`
				Median float64 `json:"median_ms"`
			} `json:"cells"`
		} `json:"table2"`
	}
	if err := newest(store, "tables-*.json", &f); err != nil {
		return 0, 0, err
	}
	for _, r := range f.Table2 {
		if r.Scenario != "pending" || r.Size != s.Size {
			continue
		}
		p, g := r.Cells["ARES"], r.Cells["ARES PB&GC"]
		if p.Reads == 0 || g.Reads == 0 || p.Median <= 0 {
			break
		}
		return p.Median, g.Median, nil
	}
	return 0, 0, errors.New("baseline bench tables: no pending ARES and ARES PB&GC figures in its file")
}
