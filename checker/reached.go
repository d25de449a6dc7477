package checker

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/ares-torture/torture/history"
)

// CheckReached names the check that a run with faults reached some of the
// states safety depends on (see Reached).
const CheckReached = "reached"

// ReachOptions tell the reached check what the history cannot.
type ReachOptions struct {
	// ECK is k of the initial configuration when it is erasure-coded
	// (0: unknown, or ABD). The k of configurations installed by a
	// reconfiguration is read from the history's reconfig lines.
	ECK int
}

// Reached counts, for one run, the states that atomicity and durability
// depend on and that faults aim at: a verdict of valid means little if
// the run never got there. Counters that need the optional protocol
// facts of history.Op (tags, configurations, elements) stay 0 when the
// history carries none (ProtocolFields false).
type Reached struct {
	// ReadsDuringReconfig are ok reads whose [invoke, complete] overlaps a
	// reconfiguration.
	ReadsDuringReconfig int `json:"reads_during_reconfig"`
	// ReadsInLaterConfig are ok reads that finished in a later
	// configuration than the ok write of the value they returned (both
	// configurations known): a value carried across a reconfiguration.
	ReadsInLaterConfig int `json:"reads_in_later_config"`
	// ECReads are ok reads decoded from coded elements; ECReadsAtK those
	// decoded from exactly k, no spare. ECReadsAtK is -1 when there were
	// EC reads but the k of none of their configurations is known.
	ECReads    int `json:"ec_reads"`
	ECReadsAtK int `json:"ec_reads_at_k"`
	// WritesBehind are ok or info writes whose get-tag quorum held a
	// server behind the quorum's newest tag.
	WritesBehind int `json:"writes_behind"`
	// MultiConfigOps are completed operations that visited two or more
	// configurations.
	MultiConfigOps int `json:"multi_config_ops"`
	// ReadsAcrossRestart are ok reads completed after a kill (restart,
	// power loss) fault ended that returned a value whose write was
	// acknowledged before that fault began. It approximates "answered by
	// a server restarted since it acknowledged the value": the history
	// does not say which servers answered.
	ReadsAcrossRestart int `json:"reads_across_restart"`
	// InfoWritesRead are indeterminate (info or pending) writes whose
	// value some ok read returned: they took effect without an ack.
	InfoWritesRead int `json:"info_writes_read"`

	// Faults are the fault kinds in the history, in order of first start.
	Faults []string `json:"faults,omitempty"`
	// ProtocolFields says the history carries tags or configurations.
	ProtocolFields bool `json:"protocol_fields"`
	// ECK is the k assumed for the initial configuration (0: unknown).
	ECK int `json:"ec_k,omitempty"`
}

// ReachedCount is one counter of Reached, for tables.
type ReachedCount struct {
	Name string // short name, as in the nightly summary
	What string // what it counts
	// Value is the count; -1 when it cannot be counted from this history.
	Value int
}

// Counts lists the counters in a fixed order. A counter that needs
// protocol facts the history lacks is -1.
func (r Reached) Counts() []ReachedCount {
	proto := func(v int) int {
		if !r.ProtocolFields {
			return -1
		}
		return v
	}
	return []ReachedCount{
		{"reconfig-reads", "ok reads overlapping a reconfiguration", r.ReadsDuringReconfig},
		{"later-config", "ok reads in a later configuration than their value's write", proto(r.ReadsInLaterConfig)},
		{"ec-at-k", fmt.Sprintf("EC reads decoded from exactly k elements (of %d EC reads)", r.ECReads), proto(r.ECReadsAtK)},
		{"behind", "writes whose get-tag quorum missed the newest tag", proto(r.WritesBehind)},
		{"multi-config", "operations that visited two or more configurations", proto(r.MultiConfigOps)},
		{"across-restart", "ok reads after a restart of a value acknowledged before the kill", r.ReadsAcrossRestart},
		{"info-read", "indeterminate writes that some read returned", r.InfoWritesRead},
	}
}

// Total is the number of reached states counted (uncountable ones are 0).
func (r Reached) Total() int {
	n := 0
	for _, c := range r.Counts() {
		if c.Value > 0 {
			n += c.Value
		}
	}
	return n
}

// String is the counts on one line, name=value; "?" for uncountable ones.
func (r Reached) String() string {
	var parts []string
	for _, c := range r.Counts() {
		v := strconv.Itoa(c.Value)
		if c.Value < 0 {
			v = "?"
		}
		parts = append(parts, c.Name+"="+v)
	}
	return strings.Join(parts, " ")
}

// restartFaults are the fault kinds after which a server runs again from
// its disk.
var restartFaults = map[string]bool{
	"kill": true, "restart": true,
	"power": true, "power-loss": true, "powerloss": true, "power_loss": true,
}

// ecConfig matches a configuration as ares.Config.String names it in a
// reconfiguration's stop line, e.g. "c3[s1,s2,s3,s4,s5 ec(5,3)]".
var ecConfig = regexp.MustCompile(`c(\d+)\[[^\]]*\bec\((\d+),(\d+)\)\]`)

// skipped reports whether a fault was recorded but never applied: its
// start's error begins "not applied: " (nemesis.NotApplied), or, in older
// histories, it is an instant with an error.
func skipped(iv *interval) bool {
	return strings.HasPrefix(iv.Error, "not applied: ") || iv.Error != "" && iv.Start == iv.End
}

// countReached computes Reached for a prepared history.
func countReached(h *prepared, opts ReachOptions) Reached {
	rc := Reached{ECK: opts.ECK}
	seen := map[string]bool{}
	var reconfigs, restarts []*interval
	kOf := map[int64]int{} // configuration index -> k, from the history
	for i := range h.nemesis {
		iv := &h.nemesis[i]
		if !seen[iv.Fault] {
			seen[iv.Fault] = true
			rc.Faults = append(rc.Faults, iv.Fault)
		}
		if iv.Fault == "reconfig" {
			for _, m := range ecConfig.FindAllStringSubmatch(iv.Value, -1) {
				idx, err1 := strconv.ParseInt(m[1], 10, 64)
				k, err2 := strconv.Atoi(m[3])
				if err1 == nil && err2 == nil {
					kOf[idx] = k
				}
			}
		}
		if skipped(iv) {
			continue
		}
		switch {
		case iv.Fault == "reconfig":
			reconfigs = append(reconfigs, iv)
		case restartFaults[iv.Fault]:
			restarts = append(restarts, iv)
		}
	}
	// h.nemesis is sorted by start; so are the two lists. sufMin[i] is
	// the earliest end among restarts[i:].
	sufMin := make([]int64, len(restarts)+1)
	sufMin[len(restarts)] = -1
	for i := len(restarts) - 1; i >= 0; i-- {
		sufMin[i] = restarts[i].End
		if n := sufMin[i+1]; n >= 0 && n < sufMin[i] {
			sufMin[i] = n
		}
	}

	// Writes by key and value (values are unique per run; the first
	// wins otherwise) and the values ok reads returned.
	type kv struct{ key, value string }
	writes := map[kv]*clientOp{}
	read := map[kv]bool{}
	for i := range h.ops {
		o := &h.ops[i]
		if o.tag != nil || o.config >= 0 {
			rc.ProtocolFields = true
		}
		switch {
		case o.f == history.FWrite && o.typ != history.Fail:
			if _, ok := writes[kv{o.key, o.value}]; !ok {
				writes[kv{o.key, o.value}] = o
			}
		case o.f == history.FRead && o.typ == history.Ok:
			read[kv{o.key, o.value}] = true
		}
	}

	ecKnown := false
	for i := range h.ops {
		o := &h.ops[i]
		if o.typ == pendingType || o.typ == history.Fail {
			if o.f == history.FWrite && o.typ == pendingType && read[kv{o.key, o.value}] {
				rc.InfoWritesRead++
			}
			continue
		}
		if o.configs >= 2 {
			rc.MultiConfigOps++
		}
		if o.f == history.FWrite {
			if o.behind {
				rc.WritesBehind++
			}
			if o.typ == history.Info && read[kv{o.key, o.value}] {
				rc.InfoWritesRead++
			}
			continue
		}
		if o.typ != history.Ok {
			continue
		}
		// An ok read.
		for _, iv := range reconfigs {
			if iv.Start > o.ret {
				break
			}
			if iv.End >= o.call {
				rc.ReadsDuringReconfig++
				break
			}
		}
		if o.elements > 0 {
			rc.ECReads++
			k, ok := kOf[o.config]
			if !ok && opts.ECK > 0 && (o.config == 0 || (o.config < 0 && len(kOf) == 0)) {
				k, ok = opts.ECK, true
			}
			if ok {
				ecKnown = true
				if o.elements == k {
					rc.ECReadsAtK++
				}
			}
		}
		wr := writes[kv{o.key, o.value}]
		if o.value == "" || wr == nil || wr.typ != history.Ok {
			continue
		}
		if o.config >= 0 && wr.config >= 0 && o.config > wr.config {
			rc.ReadsInLaterConfig++
		}
		// The first restart that began after the write was acknowledged,
		// or any later one, must have ended before the read completed.
		j := sort.Search(len(restarts), func(i int) bool { return restarts[i].Start > wr.ret })
		if j < len(restarts) && sufMin[j] < o.ret {
			rc.ReadsAcrossRestart++
		}
	}
	if rc.ECReads > 0 && !ecKnown {
		rc.ECReadsAtK = -1
	}
	return rc
}

// checkReached fills r.Reached and judges it. A run with faults that
// reached none of the counted states is Unknown (vacuous): its faults
// tested nothing. A run without faults is not judged here. A history
// without protocol facts (a foreign or older one) is not called vacuous
// for lacking them: what it allows counting is counted, and a note says
// the rest could not be.
func (r *Result) checkReached(h *prepared, opts Options) {
	r.Reached = countReached(h, opts.Reach)
	rc := &r.Reached
	if len(h.nemesis) == 0 {
		if len(h.requested) > 0 {
			// Faults asked for but none injected: the run tested nothing
			// it set out to.
			r.Checkers[CheckReached] = CheckerResult{Unknown, fmt.Sprintf(
				"vacuous: faults asked for (%s) but none was injected", strings.Join(h.requested, ", "))}
			return
		}
		r.Checkers[CheckReached] = CheckerResult{Valid, "no faults"}
		return
	}
	faults := strings.Join(rc.Faults, ", ")
	if !rc.ProtocolFields {
		r.Notes = append(r.Notes, "the history carries no tags or configurations: only reads during a reconfiguration, "+
			"reads across a restart and indeterminate writes read were counted as reached states")
	}
	switch {
	case rc.Total() > 0:
		r.Checkers[CheckReached] = CheckerResult{Valid, fmt.Sprintf("reached %s (faults: %s)", rc, faults)}
	case !rc.ProtocolFields:
		r.Checkers[CheckReached] = CheckerResult{Valid, fmt.Sprintf(
			"nothing countable reached, and the history carries no tags or configurations to count more (faults: %s)", faults)}
	default:
		r.Checkers[CheckReached] = CheckerResult{Unknown, fmt.Sprintf("vacuous: nothing reached (faults: %s)", faults)}
	}
}
