package bench

// The rows of `torture bench all`: a Session is one run of it, and each
// Add* method measures one kind of figure and adds its rows (one file
// each: latency_rows.go, pending.go, throughput.go, checktime.go,
// bugs.go, docker.go). cmd/torture parses the flags, hands in what only
// it can run (bench tables' and bench bugs' runs) and prints the rows.

import (
	"context"
	"io"
	"log/slog"
	"os"
	"time"
)

// Row ids of `bench all`, in the table's order (bug rows are
// RowBugPrefix+name, one per bug, before the docker row).
const (
	RowABDWrite  = "latency.abd.write"
	RowABDRead   = "latency.abd.read"
	RowECWrite   = "latency.ec.write"
	RowECRead    = "latency.ec.read"
	RowWire      = "wire.ec_over_abd"
	RowLarge     = "large_write.ec_over_abd"
	RowPending   = "read_pending.pbgc_over_plain"
	RowRecorded  = "throughput.recorded_over_direct"
	RowOpsRun    = "throughput.run_ops"
	RowOpsDirect = "throughput.direct_ops"
	RowCheck     = "check.history"
	RowBugPrefix = "bug."
	RowDocker    = "throughput.docker_over_local"
	// SpeedupMin is the limit of the 10-client ops/s rows: this build's
	// over the baseline build's.
	SpeedupMin = 3.0
)

// Sizes are the sizes and counts of one session: full, or --quick (a
// smoke test of every row in well under a minute or two).
type Sizes struct {
	LatencyOps   int           `json:"latency_ops"`
	ValueSize    int           `json:"value_size"`
	WireOps      int           `json:"wire_ops"`
	WireSize     int           `json:"wire_size"`
	LargeOps     int           `json:"large_ops"`
	LargeSize    int           `json:"large_size"`
	TableServers int           `json:"table_servers"`
	TableK       int           `json:"table_k"`
	TableSize    int64         `json:"table_size"`
	TableReads   int           `json:"table_reads"`
	Pending      int           `json:"pending"`
	Time         time.Duration `json:"throughput_time_ns"`
	Rounds       int           `json:"throughput_rounds"`
	HistoryTime  time.Duration `json:"history_time_ns"`
	Seeds        int           `json:"bug_seeds"`
	DockerTime   time.Duration `json:"docker_time_ns"`
}

// DefaultSizes are the full sizes, or the --quick ones.
func DefaultSizes(quick bool) Sizes {
	if quick {
		return Sizes{LatencyOps: 20, ValueSize: 1 << 10, WireOps: 2, WireSize: 256 << 10, LargeOps: 1, LargeSize: 4 << 20,
			TableServers: 5, TableK: 3, TableSize: 64 << 10, TableReads: 1, Pending: 11,
			Time: time.Second, Rounds: 1, HistoryTime: 20 * time.Second, Seeds: 1, DockerTime: 3 * time.Second}
	}
	return Sizes{LatencyOps: 200, ValueSize: 1 << 10, WireOps: 5, WireSize: 1 << 20, LargeOps: 3, LargeSize: 64 << 20,
		TableServers: 11, TableK: 6, TableSize: 1 << 20, TableReads: 5, Pending: 11,
		Time: 10 * time.Second, Rounds: 3, HistoryTime: 5 * time.Minute, Seeds: 3, DockerTime: 10 * time.Second}
}

// Session is one `bench all`: what every measurement shares, and the
// rows they have made so far.
type Session struct {
	// Out receives the progress lines.
	Out   io.Writer
	Log   *slog.Logger
	Sizes Sizes
	// ServerBin is this build's ares-server; Base the baseline build's
	// binaries, nil for none.
	ServerBin string
	Base      *Baseline
	// Work is an existing folder for the measurements' files, each in a
	// folder of its own that it removes when done.
	Work string
	// Args is the command line, recorded in the runs a measurement makes.
	Args []string
	// Bubble hosts the bubbles of the sim runs (harness.Env.Bubble; nil
	// outside tests).
	Bubble func(f func())

	// Rows are the rows made so far, in the table's order.
	Rows []Row
	// Latency is what AddLatency measured, nil before it or when it
	// failed.
	Latency *LatencyResult
}

func (s *Session) add(r Row) { s.Rows = append(s.Rows, r) }

// fail adds rows with ids and names whose measurement failed with err (or
// was interrupted).
func (s *Session) fail(ctx context.Context, err error, rows ...Row) {
	for _, r := range rows {
		r.Status, r.Note = Error, err.Error()
		if ctx.Err() != nil {
			r.Status, r.Note = Skipped, "skipped: interrupted"
		}
		s.add(r)
	}
}

// dir makes a fresh folder for one measurement's files under Work.
func (s *Session) dir(name string) (string, error) {
	return os.MkdirTemp(s.Work, name+"-")
}
