package checker

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"

	"github.com/anishathalye/porcupine"
)

// Meta describes the run a result belongs to, for the report.
type Meta struct {
	Test    string         `json:"test"`
	RunDir  string         `json:"run_dir"`
	Options map[string]any `json:"options,omitempty"`
}

// File names inside a run directory.
const (
	ResultsFile  = "results.json"
	ReportFile   = "report.html"
	LinearizeDir = "linearizability"
)

// Write writes results.json, report.html and, for every invalid key with a
// verbose diagnosis, linearizability/<key>.html into runDir. It records
// meta and the visualization paths in r. Visualizations left by an earlier
// check of the same run are removed first, so that `torture check` leaves
// only what is current. A visualization that cannot be written is noted in
// the result; results.json and report.html are still written.
func (r *Result) Write(runDir string, meta Meta) error {
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	m := meta
	r.Meta = &m
	linDir := filepath.Join(runDir, LinearizeDir)
	if old, err := filepath.Glob(filepath.Join(linDir, "*.html")); err == nil {
		for _, f := range old {
			_ = os.Remove(f) // best effort: a stale file is only confusing
		}
	}
	if len(r.diags) > 0 {
		if err := os.MkdirAll(linDir, 0o755); err != nil {
			return fmt.Errorf("write results: %w", err)
		}
	}
	for _, key := range sortedKeys(r.diags) {
		d := r.diags[key]
		if d == nil || d.info == nil {
			continue
		}
		rel := filepath.ToSlash(filepath.Join(LinearizeDir, FileName(key)+".html"))
		if err := visualize(d, filepath.Join(runDir, rel)); err != nil {
			r.Notes = append(r.Notes, fmt.Sprintf("visualization of key %q: %v", key, err))
			continue
		}
		for i := range r.Keys {
			if r.Keys[i].Key == key {
				r.Keys[i].Visualization = rel
			}
		}
		for i := range r.Anomalies {
			if r.Anomalies[i].Checker == CheckLinearizability && r.Anomalies[i].Key == key {
				r.Anomalies[i].Visualization = rel
			}
		}
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(runDir, ResultsFile), append(b, '\n')); err != nil {
		return err
	}
	// Where the time goes, when the run traced (harness.TracesDir).
	if b, err := os.ReadFile(filepath.Join(runDir, "traces", "summary.txt")); err == nil {
		r.TimeGoes = string(b)
	}
	var sb strings.Builder
	if err := r.renderReport(&sb); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return writeFileAtomic(filepath.Join(runDir, ReportFile), []byte(sb.String()))
}

// visualize writes Porcupine's HTML. Porcupine panics on internal
// inconsistencies; a report must not take the run down with it.
func visualize(d *diagnosis, path string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("porcupine visualization failed: %v", p)
		}
	}()
	tmp := path + ".tmp"
	if err := porcupine.VisualizePath(d.model, *d.info, tmp); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// writeFileAtomic replaces path so that a reader never sees half a file.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// ReadResult reads the results.json of a run directory. The result has no
// history attached: writing it again produces a report without plots.
func ReadResult(runDir string) (*Result, error) {
	b, err := os.ReadFile(filepath.Join(runDir, ResultsFile))
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	switch r.Verdict {
	case Valid, Invalid, Unknown:
	default:
		return nil, errors.New("read results: no verdict")
	}
	return &r, nil
}

// FileName turns a key into a safe file name (without extension): letters,
// digits, '.', '_' and '-' are kept, anything else becomes '_', and a short
// hash of the key is appended whenever the name had to change, so that
// distinct keys never share a file.
func FileName(key string) string {
	var b strings.Builder
	for _, c := range key {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	name := b.String()
	if len(name) > 80 {
		name = name[:80]
	}
	if name != key || name == "" || strings.HasPrefix(name, ".") {
		h := fnv.New32a()
		h.Write([]byte(key))
		name = strings.TrimLeft(name, ".")
		if name == "" {
			name = "key"
		}
		name = fmt.Sprintf("%s-%08x", name, h.Sum32())
	}
	return name
}
