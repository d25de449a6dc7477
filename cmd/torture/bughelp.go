package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/sim"
)

// bugHelp writes the --server-bug part of torture run --help: each bug
// with the run shape that exposes it, as run flags. The shapes are the
// ones `torture bench bugs` and the integration tests use (harness.BugShape
// for the local and docker backends, sim.BugOptions for the sim), read off
// the options they set, so the help cannot drift from them.
func bugHelp(w io.Writer) {
	fmt.Fprintf(w, "\n--server-bug names (off unless given). A bug shows only in a run that opens its window:\n"+
		"the faults and shape below; without them a run can pass with the bug on.\n"+
		"`torture bench bugs` runs these shapes and measures how often and how fast each\n"+
		"bug is found (--backend sim for the sim shapes).\n")
	for _, b := range ares.Bugs {
		where := "client"
		if b.Server {
			where = "server"
		}
		fmt.Fprintf(w, "  %-17s %s (%s)\n", b.Name, b.Description, where)
		local := "no local or docker shape: only --backend sim shows it (a power loss is the one fault that loses unsynced writes)"
		if shape, ok := harness.BugShape(b.Name); ok {
			local = shapeFlags(harness.DefaultOptions(), func(o *harness.Options) { shape(o) })
		}
		fmt.Fprintf(w, "      local, docker: %s\n", local)
		simShape := shapeFlags(sim.DefaultOptions(), func(o *harness.Options) { *o = sim.BugOptions(b.Name) })
		if simShape == "" {
			simShape = "the sim defaults (every fault)"
		}
		fmt.Fprintf(w, "      sim:           %s\n", simShape)
	}
}

// shapeFlags is the torture run flags that turn base into what shape makes
// of it: --nemesis first, then the others in flag order; --server-bug
// itself is left out.
func shapeFlags(base harness.Options, shape func(*harness.Options)) string {
	o := base
	fs := flag.NewFlagSet("shape", flag.ContinueOnError)
	runFlags(fs, &o) // each flag reads its field of o
	shape(&o)
	var out []string
	fs.VisitAll(func(f *flag.Flag) {
		if v := f.Value.String(); v != f.DefValue && f.Name != "server-bug" && f.Name != "server-bin" {
			if a := "--" + f.Name + " " + v; f.Name == "nemesis" {
				out = append([]string{a}, out...)
			} else {
				out = append(out, a)
			}
		}
	})
	return strings.Join(out, " ")
}
