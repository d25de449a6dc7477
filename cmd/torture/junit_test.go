package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestJUnitUnwritableFailsFirst: a --junit path that cannot be written is
// a usage error before the run (exit 3, a verdict line, no run directory),
// not a VALID run followed by exit 3.
func TestJUnitUnwritableFailsFirst(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain")
	if err := os.WriteFile(file, []byte("not xml"), 0o644); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "runs")
	for _, c := range []struct{ path, want string }{
		{filepath.Join(file, "junit.xml"), "not a directory"}, // its folder is a file
		{dir, "not a regular file"},                           // a folder
		{file, "junit"},                                       // not a JUnit document
		{"/proc/torture-junit.xml", "cannot write in /proc"},  // no file can be made there, even by root
	} {
		var stdout, stderr bytes.Buffer
		start := time.Now()
		code := Main([]string{"run", "--backend", "sim", "--store", store, "--junit", c.path}, &stdout, &stderr)
		out := stdout.String()
		if code != 3 || !strings.Contains(out, "usage: --junit") || !strings.Contains(out, c.want) || strings.Contains(out, "VALID") {
			t.Errorf("--junit %s: exit %d, stdout %q; want 3 and a usage verdict containing %q", c.path, code, out, c.want)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("--junit %s: took %v; the run should not have started", c.path, took)
		}
		if _, err := os.Stat(store); err == nil {
			t.Fatalf("--junit %s: a run store was made; the run started", c.path)
		}
	}
	if b, _ := os.ReadFile(file); string(b) != "not xml" {
		t.Errorf("the existing file was changed: %q", b)
	}
}

func TestJUnitWritable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "junit.xml")
	if err := junitWritable(path); err != nil {
		t.Fatal(err)
	}
	left, _ := os.ReadDir(filepath.Dir(path))
	if len(left) != 0 {
		t.Errorf("junitWritable left %v behind", left)
	}
	doc := `<testsuites name="ares-torture"><testsuite name="torture" tests="0"></testsuite></testsuites>`
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := junitWritable(path); err != nil {
		t.Errorf("an existing JUnit file: %v", err)
	}
}
