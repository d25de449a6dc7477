// Package junit writes torture runs as JUnit XML test cases, the format CI
// systems show as test results: one test case per run, with the verdict,
// the run directory and the seed, so that a failing nightly run can be
// found, re-checked (torture check RUN_DIR) and re-run (torture rerun).
//
// A valid run passes; an invalid run is a <failure> (also when its harness
// failed too: the violation wins, the harness error is reported beside
// it); a run whose harness failed is an <error>; an unknown verdict (the
// checker gave up, the floor was missed, the run reached nothing its faults
// aim at, or it was interrupted) is a <failure> too, since nothing was
// shown right, unless the case says why it may be unknown (AllowUnknown):
// then it is <skipped>, with that reason.
package junit

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Case is one torture run.
type Case struct {
	// Suite groups cases (e.g. "torture" or "nightly/docker"); Name is the
	// test's name, unique within the suite for a useful report.
	Suite, Name string
	// Verdict is valid, invalid, unknown or error; Code the exit code.
	Verdict string
	Code    int
	Reason  string
	RunDir  string
	Seed    int64
	Time    time.Duration
	// Output is extra text for the case's system-out (e.g. the verdict line).
	Output string
	// HarnessError is a harness failure reported beside the verdict (an
	// invalid run whose harness also failed).
	HarnessError string
	// AllowUnknown is why an unknown verdict may pass (skipped, not
	// failed); empty: an unknown verdict fails.
	AllowUnknown string
	// Reached is what the run reached (checker.Reached on one line).
	Reached string
}

// Suites is a JUnit XML document.
type Suites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Name     string   `xml:"name,attr,omitempty"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Time     float64  `xml:"time,attr"`
	Suites   []*Suite `xml:"testsuite"`
}

// Suite is one testsuite element.
type Suite struct {
	Name      string     `xml:"name,attr"`
	Tests     int        `xml:"tests,attr"`
	Failures  int        `xml:"failures,attr"`
	Errors    int        `xml:"errors,attr"`
	Skipped   int        `xml:"skipped,attr"`
	Time      float64    `xml:"time,attr"`
	Timestamp string     `xml:"timestamp,attr,omitempty"`
	Cases     []TestCase `xml:"testcase"`
}

// TestCase is one testcase element.
type TestCase struct {
	Name       string     `xml:"name,attr"`
	Classname  string     `xml:"classname,attr"`
	Time       float64    `xml:"time,attr"`
	Properties []Property `xml:"properties>property,omitempty"`
	Failure    *Problem   `xml:"failure,omitempty"`
	Error      *Problem   `xml:"error,omitempty"`
	Skipped    *Problem   `xml:"skipped,omitempty"`
	SystemOut  string     `xml:"system-out,omitempty"`
}

// Property is a name and value attached to a test case.
type Property struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// Problem is a failure, error or skip.
type Problem struct {
	Type    string `xml:"type,attr,omitempty"`
	Message string `xml:"message,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// testCase converts a run to its JUnit element.
func (c Case) testCase() TestCase {
	tc := TestCase{
		Name:      c.Name,
		Classname: c.Suite,
		Time:      c.Time.Seconds(),
		Properties: []Property{
			{"verdict", c.Verdict},
			{"exit_code", strconv.Itoa(c.Code)},
			{"run_dir", c.RunDir},
			{"seed", strconv.FormatInt(c.Seed, 10)},
		},
	}
	for _, p := range []Property{{"harness_error", c.HarnessError}, {"allow_unknown", c.AllowUnknown}, {"reached", c.Reached}} {
		if p.Value != "" {
			tc.Properties = append(tc.Properties, p)
		}
	}
	detail := fmt.Sprintf("verdict: %s\nrun dir: %s\nseed: %d\nre-check: torture check %s\nre-run: torture rerun %s\n",
		c.Verdict, c.RunDir, c.Seed, c.RunDir, c.RunDir)
	if c.Reached != "" {
		detail += "reached: " + c.Reached + "\n"
	}
	if c.HarnessError != "" {
		detail = "harness error: " + c.HarnessError + "\n" + detail
	}
	if c.Reason != "" {
		detail = "reason: " + c.Reason + "\n" + detail
	}
	msg := c.Verdict
	if c.Verdict == "unknown" && c.AllowUnknown != "" {
		msg += " (allowed: " + c.AllowUnknown + ")"
	}
	if c.Reason != "" {
		msg += ": " + c.Reason
	}
	if c.HarnessError != "" && c.Verdict != "error" && !strings.Contains(c.Reason, c.HarnessError) {
		msg += "; harness error: " + c.HarnessError
	}
	switch {
	case c.Verdict == "valid" && c.Code == 0:
	case c.Verdict == "invalid":
		tc.Failure = &Problem{Type: "invalid", Message: msg, Text: detail}
	case c.Verdict == "unknown" && c.AllowUnknown != "":
		tc.Skipped = &Problem{Type: "unknown-allowed", Message: msg, Text: detail}
	case c.Verdict == "unknown":
		tc.Failure = &Problem{Type: "unknown", Message: msg, Text: detail}
	default:
		tc.Error = &Problem{Type: c.Verdict, Message: msg, Text: detail}
	}
	tc.SystemOut = c.Output
	if tc.SystemOut == "" {
		tc.SystemOut = detail
	}
	return tc
}

// Add adds a run to the document, in the suite named c.Suite.
func (s *Suites) Add(c Case, now time.Time) {
	var suite *Suite
	for _, x := range s.Suites {
		if x.Name == c.Suite {
			suite = x
		}
	}
	if suite == nil {
		suite = &Suite{Name: c.Suite, Timestamp: now.UTC().Format(time.RFC3339)}
		s.Suites = append(s.Suites, suite)
	}
	suite.Cases = append(suite.Cases, c.testCase())
	s.recount()
}

// recount recomputes every total from the cases.
func (s *Suites) recount() {
	s.Tests, s.Failures, s.Errors, s.Skipped, s.Time = 0, 0, 0, 0, 0
	for _, x := range s.Suites {
		x.Tests, x.Failures, x.Errors, x.Skipped, x.Time = len(x.Cases), 0, 0, 0, 0
		for _, tc := range x.Cases {
			switch {
			case tc.Failure != nil:
				x.Failures++
			case tc.Error != nil:
				x.Errors++
			case tc.Skipped != nil:
				x.Skipped++
			}
			x.Time += tc.Time
		}
		s.Tests += x.Tests
		s.Failures += x.Failures
		s.Errors += x.Errors
		s.Skipped += x.Skipped
		s.Time += x.Time
	}
}

// Encode writes the document as indented XML.
func (s *Suites) Encode(w io.Writer) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	return nil
}

// Decode reads a document written by Encode (or by another tool: a bare
// <testsuite> root is accepted too).
func Decode(r io.Reader) (*Suites, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("junit: %w", err)
	}
	var s Suites
	if err := xml.Unmarshal(data, &s); err != nil {
		var one Suite
		if err2 := xml.Unmarshal(data, &one); err2 != nil {
			return nil, fmt.Errorf("junit: %w", err)
		}
		s.Suites = []*Suite{&one}
	}
	s.recount()
	return &s, nil
}

// Append adds one run to the JUnit file at path, creating it if needed. A
// lock on the file's directory serializes runs that share a file (a lock
// file would have to stay behind to be safe), and the file is replaced
// atomically, so a reader never sees half a document.
func Append(path string, c Case) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	lock, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	defer lock.Close() // releases the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("junit: lock %s: %w", path, err)
	}

	doc := &Suites{Name: "ares-torture"}
	f, err := os.Open(path)
	switch {
	case err == nil:
		doc, err = Decode(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%w (in %s)", err, path)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("junit: %w", err)
	}
	doc.Add(c, time.Now())
	return WriteFile(path, doc)
}

// WriteFile writes a whole document to path atomically.
func WriteFile(path string, doc *Suites) error {
	doc.recount()
	sort.SliceStable(doc.Suites, func(i, j int) bool { return doc.Suites[i].Name < doc.Suites[j].Name })
	tmp, err := os.CreateTemp(filepath.Dir(path), ".junit-*.xml")
	if err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := doc.Encode(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	return nil
}
