package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"
)

// Files of a run directory (DESIGN.md, "Run store").
const (
	TestFile    = "test.json"
	HistoryFile = "history.jsonl"
	ResultsFile = "results.json"
	ReportFile  = "report.html"
	NodesDir    = "nodes"
	LatestLink  = "latest"
)

// runStamp is the start-time part of a run directory's name: sortable, and
// free of characters that shells or browsers mind.
const runStamp = "20060102T150405"

// RunDirName is the name of a run's directory inside its test's folder:
// <start-time>-<seed>.
func RunDirName(start time.Time, seed int64) string {
	return start.UTC().Format(runStamp) + "-" + strconv.FormatInt(seed, 10)
}

// CreateRunDir creates store/<name>/<start-time>-<seed>/ (with a numeric
// suffix should that exist already, as a quick rerun of the same seed
// would), points store/latest at it and returns its path.
func CreateRunDir(store, name string, start time.Time, seed int64) (string, error) {
	if name == "" || sanitize(name) != name {
		return "", fmt.Errorf("bad test name %q", name)
	}
	parent := filepath.Join(store, name)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("create run store: %w", err)
	}
	base := RunDirName(start, seed)
	dir := filepath.Join(parent, base)
	for i := 2; ; i++ {
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) || i > 1000 {
			return "", fmt.Errorf("create run directory: %w", err)
		}
		dir = filepath.Join(parent, fmt.Sprintf("%s.%d", base, i))
	}
	if err := UpdateLatest(store, dir); err != nil {
		return dir, err
	}
	return dir, nil
}

var latestSeq atomic.Int64

// UpdateLatest points store/latest at dir with a relative symlink, replaced
// atomically so a reader never sees it missing.
func UpdateLatest(store, dir string) error {
	rel, err := filepath.Rel(store, dir)
	if err != nil {
		return fmt.Errorf("latest link: %w", err)
	}
	// The counter keeps runs of one process (torture sim's workers) from
	// sharing a temporary name and renaming one another's link away.
	tmp := filepath.Join(store, fmt.Sprintf(".latest-%d-%d", os.Getpid(), latestSeq.Add(1)))
	_ = os.Remove(tmp)
	if err := os.Symlink(rel, tmp); err != nil {
		return fmt.Errorf("latest link: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(store, LatestLink)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("latest link: %w", err)
	}
	return nil
}

// TestInfo is test.json: every option (the seed among them), the versions
// of what ran, and when.
type TestInfo struct {
	Options  Options           `json:"options"`
	Seed     int64             `json:"seed"`
	Start    time.Time         `json:"start"`
	RunDir   string            `json:"run_dir"`
	Versions map[string]string `json:"versions"`
	// Args is the command line that started the run, for a person's eyes;
	// a rerun uses Options.
	Args []string `json:"args,omitempty"`
}

// WriteTestInfo writes dir/test.json.
func WriteTestInfo(dir string, ti *TestInfo) error {
	b, err := json.MarshalIndent(ti, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", TestFile, err)
	}
	if err := os.WriteFile(filepath.Join(dir, TestFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", TestFile, err)
	}
	return nil
}

// ReadTestInfo reads dir/test.json. Options missing from an older file
// keep their defaults.
func ReadTestInfo(dir string) (*TestInfo, error) {
	b, err := os.ReadFile(filepath.Join(dir, TestFile))
	if err != nil {
		return nil, fmt.Errorf("read test: %w", err)
	}
	ti := TestInfo{Options: DefaultOptions()}
	if err := json.Unmarshal(b, &ti); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, TestFile), err)
	}
	if ti.Seed != 0 && ti.Options.Seed == 0 {
		ti.Options.Seed = ti.Seed
	}
	// A run from before --thrifty asked every server: its rerun does too.
	var probe struct {
		Options map[string]json.RawMessage `json:"options"`
	}
	if json.Unmarshal(b, &probe) == nil {
		if _, ok := probe.Options["thrifty"]; !ok {
			ti.Options.Thrifty = ThriftyOff
		}
	}
	return &ti, nil
}

// WriteNewFile writes b to dir/base.json, or dir/base.N.json (N = 2, 3, ...)
// when that exists, never over an earlier file (two writers started in the
// same second), creating dir; it returns the path written.
func WriteNewFile(dir, base string, b []byte) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, base+".json")
	for i := 2; ; i++ {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			_, werr := f.Write(b)
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				return "", werr
			}
			return path, nil
		}
		if !errors.Is(err, os.ErrExist) || i > 1000 {
			return "", err
		}
		path = filepath.Join(dir, fmt.Sprintf("%s.%d.json", base, i))
	}
}
