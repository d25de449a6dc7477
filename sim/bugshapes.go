package sim

import (
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/harness"
)

// bugShapes change DefaultOptions for a bug whose window the
// defaults (5 servers, 4 keys, 200 operations per simulated second, every
// fault every 10 ms) open in few seeds. The others (short-quorum,
// reuse-tag) are found in 10 seeds of 10 with the defaults.
// Figures are of seeds 1..10 on 2026-12-02.
var bugShapes = map[ares.Bug]func(*harness.Options){
	// A read must see a value only some servers hold and a later read
	// must miss it: a writer that crashes in the middle of its put-data
	// leaves the value on a minority for as long as no one writes the
	// key, so client crashes alone, every 20 ms (10/10; 2/10 with the
	// defaults, where a crash comes in half of the cycles and other
	// faults slow the reads).
	ares.BugNoWriteBack: func(o *harness.Options) {
		o.Nemesis = "crash"
	},
	// A slow put-data must reach a server after a newer one: faults that
	// delay and reorder messages (10/10; 8/10 with the defaults, where
	// they come in a third of the cycles).
	ares.BugNoTagCheck: func(o *harness.Options) {
		o.Nemesis = "latency,skew,loss,drop,steer"
	},
	// A killed server forgets; writes and write-backs restore it, so the
	// loss shows on keys touched rarely: three servers, many keys, kills
	// only (9/10 with the defaults, 10/10 so).
	ares.BugVolatile: func(o *harness.Options) {
		o.Servers, o.Pool, o.Keys, o.Nemesis = 3, 3, 16, "kill"
	},
	// The same with power losses, the only fault that loses what was not
	// synced: 5/10 with the defaults, 10/10 so, 0/10 with kills instead.
	ares.BugNoSync: func(o *harness.Options) {
		o.Servers, o.Pool, o.Keys, o.Nemesis = 3, 3, 16, "power"
	},
	// A renewed writer must write a key again before anyone else, and
	// its get-tag quorum must miss the minority its crashed write
	// reached: one client on one key, crashes every 10 ms (10/10; 0/10
	// with the defaults, 6/10 with the local shape of drop windows).
	// A coverable write must find the latest version made by another
	// writer with its base's timestamp: writers racing from one base on
	// few keys, with messages delayed and steered so that their
	// get-data phases overlap (7/8 so, 2/6 with the cover workload's
	// defaults).
	ares.BugCoverTSOnly: func(o *harness.Options) {
		o.Workload, o.Keys, o.Clients, o.ReadRatio, o.Nemesis = "cover", 2, 8, 0.2, "latency,steer,crash"
	},
	// A reader must follow a link to a block not yet written: any file
	// workload does, with files small enough (64 KiB, four blocks) that
	// a run is quick (6/6 seeds).
	ares.BugLinkFirst: func(o *harness.Options) {
		o.Workload, o.ValueSize, o.Ops = "file", 64<<10, 400
	},
	ares.BugRetrySameTag: func(o *harness.Options) {
		o.Clients, o.Keys, o.ReadRatio, o.Nemesis = 1, 1, 0.5, "crash"
		o.NemesisInterval = harness.Duration(5 * time.Millisecond)
	},
}

// BugOptions are the options of a sim run that looks for bug b (torture
// bench bugs --backend sim, the shrink tests): the sim defaults, the bug,
// and its shape if it has one.
func BugOptions(b ares.Bug) harness.Options {
	o := DefaultOptions()
	o.ServerBug = string(b)
	if shape, ok := bugShapes[b]; ok {
		shape(&o)
	}
	return o
}
