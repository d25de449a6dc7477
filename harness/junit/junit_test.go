package junit

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestVerdictsMapToJUnit(t *testing.T) {
	doc := &Suites{}
	now := time.Unix(0, 0)
	doc.Add(Case{Suite: "s", Name: "ok", Verdict: "valid", Code: 0, RunDir: "runs/a/1", Seed: 1, Time: 2 * time.Second}, now)
	doc.Add(Case{Suite: "s", Name: "bad", Verdict: "invalid", Code: 1, Reason: "key k0 not linearizable", RunDir: "runs/b/2", Seed: 2}, now)
	doc.Add(Case{Suite: "s", Name: "gave-up", Verdict: "unknown", Code: 2, Reason: "vacuous: nothing reached (faults: kill)"}, now)
	doc.Add(Case{Suite: "s", Name: "may-give-up", Verdict: "unknown", Code: 2, Reason: "floor", AllowUnknown: "loss starves it"}, now)
	doc.Add(Case{Suite: "s", Name: "bad-and-broke", Verdict: "invalid", Code: 1, Reason: "lost write",
		HarnessError: "stop cluster: boom", Reached: "behind=1"}, now)
	doc.Add(Case{Suite: "t", Name: "broke", Verdict: "error", Code: 3, Reason: "docker: engine not reachable"}, now)
	if doc.Tests != 6 || doc.Failures != 3 || doc.Errors != 1 || doc.Skipped != 1 {
		t.Fatalf("totals: %+v", doc)
	}
	var buf bytes.Buffer
	if err := doc.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		`<failure type="invalid" message="invalid: key k0 not linearizable">`,
		`<property name="run_dir" value="runs/b/2"></property>`,
		`<failure type="unknown" message="unknown: vacuous: nothing reached (faults: kill)">`,
		`<skipped type="unknown-allowed" message="unknown (allowed: loss starves it): floor">`,
		`<failure type="invalid" message="invalid: lost write; harness error: stop cluster: boom">`,
		`<property name="harness_error" value="stop cluster: boom"></property>`,
		`<property name="reached" value="behind=1"></property>`,
		`<error type="error" message="error: docker: engine not reachable">`,
		`torture rerun runs/b/2`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	var back Suites
	if err := xml.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("not well-formed: %v", err)
	}
	if len(back.Suites) != 2 || len(back.Suites[0].Cases) != 5 {
		t.Fatalf("round trip: %+v", back)
	}
}

func TestAppendAccumulates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "nightly.xml")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := Append(path, Case{Suite: "torture", Name: "run", Verdict: "valid", Seed: int64(i)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Tests != 8 {
		t.Fatalf("%d test cases after 8 appends", doc.Tests)
	}
	if _, err := os.Stat(path + ".lock"); err == nil {
		t.Error("lock file left behind")
	}
}

func TestAppendRejectsGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.xml")
	if err := os.WriteFile(path, []byte("not xml"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Append(path, Case{Suite: "s", Name: "n", Verdict: "valid"}); err == nil {
		t.Fatal("appended to a file that is not JUnit XML")
	}
}
