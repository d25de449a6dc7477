package checker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Meta describes the run a result belongs to, for the report.
type Meta struct {
	Test   string `json:"test"`
	RunDir string `json:"run_dir"`
	// Options are the run's options. Numbers should be json.Number (as
	// ReadResult gives them back): a float64 rounds seeds beyond 2^53.
	Options map[string]any `json:"options,omitempty"`
	// Seed is the run's seed, exact; nil when unknown.
	Seed *int64 `json:"seed,omitempty"`
	// Start is when the run started (wall clock).
	Start time.Time `json:"start,omitzero"`
	// Versions are the versions of what ran (test.json's versions).
	Versions map[string]string `json:"versions,omitempty"`
	// Rerun is the command that runs the test again.
	Rerun string `json:"rerun,omitempty"`
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
		if err := visualizeKey(d, r.Meta, filepath.Join(runDir, rel)); err != nil {
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
	if err := r.WriteTimeline(runDir); err != nil {
		r.Notes = append(r.Notes, err.Error())
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
	if err := r.renderReport(&sb, runFiles(runDir, meta.RunDir)); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return writeFileAtomic(filepath.Join(runDir, ReportFile), []byte(sb.String()))
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
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // the options' numbers (a seed beyond 2^53) stay exact
	if err := dec.Decode(&r); err != nil {
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

// runFile is a file of the run the report links to.
type runFile struct {
	// Name is the path shown, relative to the run directory (or to the
	// check's folder for a re-check's own files).
	Name string
	// Href is the link, relative to the report.
	Href string
	Size int64
	Dir  bool
}

// maxFiles caps the report's list of files.
const maxFiles = 500

// runFiles lists the files a report in out links to: out's own (results
// and visualizations), then everything in the run directory runDir (out
// when empty), except other re-checks' folders (only their reports are
// listed), the report itself and temporary files.
func runFiles(out, runDir string) []runFile {
	if runDir == "" {
		runDir = out
	}
	aout, err1 := filepath.Abs(out)
	arun, err2 := filepath.Abs(runDir)
	if err1 != nil || err2 != nil {
		return nil
	}
	var files []runFile
	seen := map[string]bool{}
	add := func(root, path string, d os.DirEntry) {
		if seen[path] || len(files) >= maxFiles || path == filepath.Join(aout, ReportFile) {
			return
		}
		seen[path] = true
		name, err := filepath.Rel(root, path)
		if err != nil {
			return
		}
		href, err := filepath.Rel(aout, path)
		if err != nil {
			return
		}
		f := runFile{Name: filepath.ToSlash(name), Href: escapePath(filepath.ToSlash(href)), Dir: d.IsDir()}
		if f.Dir {
			f.Name += "/"
			f.Href += "/"
		} else if fi, err := d.Info(); err == nil {
			f.Size = fi.Size()
		}
		files = append(files, f)
	}
	walk := func(root string, skip func(rel string, d os.DirEntry) (bool, error)) {
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || path == root {
				return nil
			}
			rel, _ := filepath.Rel(root, path)
			rel = filepath.ToSlash(rel)
			if strings.HasSuffix(d.Name(), ".tmp") || strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if ok, err := skip(rel, d); !ok {
				return err
			}
			// Directories are listed when they hold nothing listed
			// (traces/ of a run still writing) and for the tree's sake
			// otherwise: only files are linked one by one.
			if !d.IsDir() {
				add(root, path, d)
			} else if empty(path) {
				add(root, path, d)
			}
			return nil
		})
	}
	if aout != arun {
		walk(aout, func(string, os.DirEntry) (bool, error) { return true, nil })
	}
	inOut := func(p string) bool { return p == aout || strings.HasPrefix(p, aout+string(filepath.Separator)) }
	walk(arun, func(rel string, d os.DirEntry) (bool, error) {
		p := filepath.Join(arun, filepath.FromSlash(rel))
		if aout != arun && inOut(p) {
			if d.IsDir() {
				return false, filepath.SkipDir
			}
			return false, nil
		}
		// Re-checks: only their reports.
		parts := strings.Split(rel, "/")
		if parts[0] == "checks" && len(parts) >= 2 {
			if d.IsDir() && len(parts) > 2 {
				return false, filepath.SkipDir
			}
			if d.IsDir() || parts[len(parts)-1] != ReportFile || len(parts) != 3 {
				return false, nil
			}
		}
		return true, nil
	})
	return files
}

// empty says whether dir has no entries.
func empty(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) == 0
}

// escapePath percent-escapes each segment of a slash-separated relative
// path for an href.
func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}
