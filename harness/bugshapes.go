package harness

import (
	"time"

	"github.com/ares-torture/torture/ares"
)

// BugShape returns the run shape of a named bug: the changes to a run's
// options that open the bug's window in a short local run (the faults that
// expose it, few keys so that operations collide, three servers where a
// quorum of two lets one lagging or forgetful server decide what a read
// sees). ok is false for a bug without a shape: no-sync, which only the
// sim backend's power loss shows (Options.Validate refuses it elsewhere);
// every other ares.Bugs entry has one, and the integration test fails when
// one is added without it. torture run --help prints each shape as run
// flags.
//
// The shapes are shared by the integration test (each bug is found within
// a few seeds) and by `torture bench bugs` (how long each takes to find),
// so both measure the same thing.
func BugShape(b ares.Bug) (shape func(*Options), ok bool) {
	s, ok := bugShapes[b]
	return s, ok
}

// fastFaults makes faults come and go every second, an operation give up
// after one: a run of a few seconds then sees several fault windows, and a
// stuck operation does not hold a client for most of one. Runs last 8 s
// unless a shape says otherwise: most bugs show within seconds, and ten
// clients on one key leave no quiescent point, so a longer history only
// makes the proof that it is not linearizable harder for the checker.
func fastFaults(o *Options) {
	o.Time = Duration(8 * time.Second)
	o.NemesisInterval = Duration(time.Second)
	o.OpTimeout = Duration(time.Second)
	o.Settle = Duration(time.Second)
}

var bugShapes = map[ares.Bug]func(*Options){
	// no-write-back: a read that returns a value only some servers hold,
	// without writing it back, lets a later read miss it. Latency and loss
	// on the links keep a write at one server of three for a while; reads
	// dominate so that two reads fall into that while.
	// A run finds it in about 7 of 10 seeds at 12 s (5 to 7 measured under
	// load), and other faults (drop, skew, ten clients) did no better:
	// timing decides as much as the faults. 24 s doubles the chances, and
	// the read-mapping check decides the longer one-key history at once.
	ares.BugNoWriteBack: func(o *Options) {
		fastFaults(o)
		o.Servers, o.Pool, o.Keys, o.Clients, o.ReadRatio, o.Nemesis = 3, 3, 1, 6, 0.9, "latency,loss"
		o.Time = Duration(24 * time.Second)
	},
	// short-quorum: a quorum of one of three, so a read can ask only a
	// server that missed a finished write. Partitions and latency make a
	// single reply come from such a server.
	ares.BugShortQuorum: func(o *Options) {
		fastFaults(o)
		o.Servers, o.Pool, o.Keys, o.ReadRatio, o.Nemesis = 3, 3, 1, 0.6, "partition,latency"
	},
	// no-tag-check: a server overwrites a newer value with an older tag's.
	// That needs a slow put-data (a write's, or a read's write-back) to
	// arrive after a newer one: latency and loss delay messages, one key
	// makes them race. Three servers: a read then misses the newer value
	// when one of the two servers that acknowledged it is overwritten,
	// where five need two overwritten (with five, and 70% writes, it was
	// found in 2 seeds of 8 under load; with three, in 8 of 8).
	ares.BugNoTagCheck: func(o *Options) {
		fastFaults(o)
		o.Servers, o.Pool, o.Keys, o.ReadRatio, o.Nemesis = 3, 3, 1, 0.5, "latency,loss"
	},
	// volatile: a killed server forgets what it acknowledged, but later
	// writes and reads' write-backs restore it, so the loss shows only
	// where a key is touched rarely: many keys at a low rate, kills only.
	// 40 s: at 10 s it showed in 5 seeds of 10, at 20 s in 8 of 10 (a
	// loaded machine); the chance grows with the number of kills.
	ares.BugVolatile: func(o *Options) {
		fastFaults(o)
		o.Servers, o.Pool, o.Keys, o.ReadRatio, o.Rate, o.Nemesis = 3, 3, 16, 0.5, 20, "kill"
		o.Time = Duration(40 * time.Second)
	},
	// reuse-tag: two writes with the same tag and different values; the
	// servers keep whichever arrives, so reads disagree. Latency makes the
	// two writers' get-tag phases overlap on one key.
	ares.BugReuseTag: func(o *Options) {
		fastFaults(o)
		o.Keys, o.ReadRatio, o.Nemesis = 1, 0.5, "latency"
	},
	// retry-same-tag: a write that reached one server of three times out;
	// the writer's next process (same writer id under the bug) writes the
	// key again through a get-tag quorum without that server, so it issues
	// the same tag with another value. The drop fault loses whole messages,
	// so a put can reach exactly one server and the next get-tag miss it;
	// an operation timeout under the client's 200 ms retry interval keeps
	// a lost put from being sent again, and a short one makes many tries.
	// One client: any other writer would raise the tag in between. Many
	// keys: a key's two values then outlive the fault, until its next
	// write, so reads after the heal see both (with one key they were
	// overwritten before a read got through: 0 of 5 seeds at 60 s; 16
	// keys, 2 of 5; 32 keys, 40 ms, 90 s: 9 of 10 with two CPU-bound
	// loops on the two cores).
	// cover-ts-only: a coverable write takes a version another writer
	// made with its base's timestamp for its base. Such versions come
	// from writers racing from one base: eight clients on one key, mostly
	// writes, latency to make their phases overlap.
	ares.BugCoverTSOnly: func(o *Options) {
		fastFaults(o)
		o.Workload, o.Keys, o.Clients, o.ReadRatio, o.Nemesis = "cover", 1, 8, 0.2, "latency"
	},
	// link-before-write: a reader follows a predecessor's new link to a
	// block not yet written. Readers of every file run beside its writer
	// in any file workload; latency widens the window between the link
	// and the block (2/2 seeds at 8 s).
	ares.BugLinkFirst: func(o *Options) {
		fastFaults(o)
		o.Workload, o.ValueSize, o.Nemesis = "file", 64<<10, "latency"
	},
	ares.BugRetrySameTag: func(o *Options) {
		fastFaults(o)
		o.Servers, o.Pool, o.Keys, o.Clients, o.ReadRatio, o.Nemesis = 3, 3, 32, 1, 0.5, "drop"
		o.OpTimeout = Duration(40 * time.Millisecond)
		o.Time = Duration(90 * time.Second)
	},
}
