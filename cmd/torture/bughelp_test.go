package main

import (
	"bytes"
	"flag"
	"reflect"
	"strings"
	"testing"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/sim"
)

// TestRunHelpBugShapes: torture run --help names, for every bug, the
// faults and shape that expose it, and points to torture bench bugs; it no
// longer claims that the bug alone makes the checker find a violation.
func TestRunHelpBugShapes(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"run", "--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	help := stdout.String()
	if stderr.Len() != 0 {
		t.Errorf("--help wrote to stderr: %q", stderr.String())
	}
	if strings.Contains(help, "each makes the checker find a violation") {
		t.Error("help still says every bug alone makes the checker find a violation")
	}
	if !strings.Contains(help, "torture bench bugs") {
		t.Error("help does not point to torture bench bugs")
	}
	for _, b := range ares.Bugs {
		i := strings.Index(help, "  "+string(b.Name)+" ")
		if i < 0 {
			t.Errorf("%s missing", b.Name)
			continue
		}
		lines := strings.SplitN(help[i:], "\n", 4)
		if len(lines) < 3 || !strings.Contains(lines[1], "local, docker: ") || !strings.Contains(lines[2], "sim: ") {
			t.Errorf("%s: no local and sim shape lines: %q", b.Name, lines)
		}
	}
	for _, want := range []string{
		"--nemesis latency,loss --clients 6 --keys 1", // no-write-back, local
		"only --backend sim shows it",                 // no-sync, local
		"--nemesis power --keys 16",                   // no-sync, sim (a power loss)
	} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// TestShapeFlagsRoundTrip: the flags printed for a shape, given to torture
// run, make the very options the shape makes.
func TestShapeFlagsRoundTrip(t *testing.T) {
	for _, b := range ares.Bugs {
		if shape, ok := harness.BugShape(b.Name); ok {
			want := harness.DefaultOptions()
			shape(&want)
			roundTrip(t, string(b.Name)+" local", harness.DefaultOptions(), want,
				shapeFlags(harness.DefaultOptions(), func(o *harness.Options) { shape(o) }))
		}
		want := sim.BugOptions(b.Name)
		want.ServerBug = ""
		roundTrip(t, string(b.Name)+" sim", sim.DefaultOptions(), want,
			shapeFlags(sim.DefaultOptions(), func(o *harness.Options) { *o = sim.BugOptions(b.Name) }))
	}
}

func roundTrip(t *testing.T, name string, base, want harness.Options, flags string) {
	t.Helper()
	got := base
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	runFlags(fs, &got)
	if err := fs.Parse(strings.Fields(flags)); err != nil {
		t.Fatalf("%s: %q: %v", name, flags, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: flags %q give\n%+v\nwant\n%+v", name, flags, got, want)
	}
}
