// Package checker decides whether a recorded history is atomic
// (linearizable, per key, with Porcupine), whether acknowledged writes
// survived (durability), and whether enough happened for either answer to
// mean something (the floor). It also computes the run's statistics and
// writes results.json, report.html and Porcupine's visualizations.
//
// The checker knows nothing of clusters: it reads []history.Op.
//
// Verdict: invalid if any checker found a violation (definitive, however
// little else is known); otherwise unknown if the history is malformed
// (an invoke on a process with an operation in flight, a completion
// without an invoke) or incomplete (no end-of-run line, operations without
// completions), a key's check ran out of time or memory, a key with
// acknowledged writes was not read after the faults were healed, or the
// floor is not met; otherwise valid.
//
// Linearizability follows Jepsen for indeterminate operations: an info
// write may take effect at any time after its invoke, or never; info and
// fail reads constrain nothing; fail writes never took effect; an invoke
// without a completion (a truncated history) counts as info. Keys are
// checked independently, GOMAXPROCS at a time; see buildKey and
// segment.go for the exact simplifications that keep Porcupine's search
// small.
//
// Floor: a run is not called valid unless at least
// max(MinOK, MinOKShare × invoked) workload operations completed ok (by
// default 10 and 1%; the harness's final reads do not count), at least one
// write was acknowledged and one read completed ok (each where the workload
// issues it), and both happened in the warm-up before the first fault:
// otherwise an unavailable cluster would pass trivially.
//
// Durability: see checkDurability. In short, an acknowledged write is lost
// when a key's final read returns a value whose writes all completed
// before that write began.
package checker

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ares-torture/torture/history"
)

// Verdict is the outcome of a check.
type Verdict string

// Verdicts. Unknown means the checker could not decide: it ran out of time
// or memory, the history is malformed, or too little completed.
const (
	Valid   Verdict = "valid"
	Invalid Verdict = "invalid"
	Unknown Verdict = "unknown"
)

// Names of the individual checkers in Result.Checkers.
const (
	CheckHistory         = "history"
	CheckLinearizability = "linearizability"
	CheckDurability      = "durability"
	CheckFloor           = "floor"
)

// Defaults applied to zero Options fields.
const (
	DefaultTimeout        = 5 * time.Minute
	DefaultVerboseTimeout = time.Minute
	DefaultVerboseMaxOps  = 5000
	DefaultMinOK          = 10
	DefaultMinOKShare     = 0.01
)

// Options bound the check. Zero fields take the defaults above; see
// WithDefaults for the meaning of negative values.
type Options struct {
	// Timeout bounds the cheap linearizability check of all keys together;
	// keys not decided in time are Unknown.
	Timeout time.Duration
	// VerboseTimeout bounds the diagnosis of the invalid keys, all
	// together (finding each one's failing operation and computing its
	// visualization); it does not change the verdict. The minimal
	// conflicts of the invalid keys get a quarter of it more, so a check
	// takes at most Timeout + 1.25 × VerboseTimeout.
	VerboseTimeout time.Duration
	// VerboseMaxOps is the largest key history (after trimming it to the
	// failure) that gets Porcupine's verbose check and visualization; the
	// verbose mode needs memory quadratic in the history length.
	VerboseMaxOps int
	// MinOK is the floor: a run with fewer client operations completed ok
	// is not called valid.
	MinOK int
	// MinOKShare is the floor as a share of invoked client operations
	// (default 1%): a run whose ok operations are fewer than this share of
	// those invoked is not called valid either.
	MinOKShare float64
	// OpenEnded accepts a history without its end-of-run line (a foreign
	// history, or one built by hand); torture's own histories end with one.
	OpenEnded bool
	// MemoryLimit bounds the memory of the Porcupine searches running at
	// once (bytes): each of the GOMAXPROCS parallel searches may use
	// MemoryLimit/GOMAXPROCS, counted as it goes. A search that would
	// outgrow its share is stopped and its key is Unknown, rather than the
	// process being killed. Default: a quarter of the machine's memory
	// (2 GiB if unknown).
	MemoryLimit int64
	// Reach tells the reached check what the history cannot (see
	// ReachOptions).
	Reach ReachOptions
	// Progress, if set, is told what the check is at as it goes ("key
	// \"k3\" (2 of 16)", "key \"k3\": diagnosis", ...), for a progress line.
	// It is called from several goroutines at once.
	Progress func(stage string)
}

// progress reports a stage to Progress, if set.
func (o Options) progress(stage string) {
	if o.Progress != nil {
		o.Progress(stage)
	}
}

// WithDefaults returns o with zero fields set to their defaults. A negative
// Timeout or VerboseTimeout means no limit; a negative MinOK or MinOKShare
// disables that part of the floor; a negative VerboseMaxOps disables the
// verbose check.
func (o Options) WithDefaults() Options {
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.VerboseTimeout == 0 {
		o.VerboseTimeout = DefaultVerboseTimeout
	}
	if o.VerboseMaxOps == 0 {
		o.VerboseMaxOps = DefaultVerboseMaxOps
	}
	if o.MinOK == 0 {
		o.MinOK = DefaultMinOK
	}
	if o.MinOKShare == 0 {
		o.MinOKShare = DefaultMinOKShare
	}
	if o.MemoryLimit <= 0 {
		o.MemoryLimit = defaultMemoryLimit()
	}
	return o
}

// CheckerResult is the verdict of one checker.
type CheckerResult struct {
	Verdict Verdict `json:"verdict"`
	Reason  string  `json:"reason,omitempty"`
}

// KeyResult is the linearizability verdict of one key.
type KeyResult struct {
	Key     string  `json:"key"`
	Verdict Verdict `json:"verdict"`
	// Ops is the number of operations given to Porcupine (ok reads, ok
	// writes, and indeterminate writes that some read observed).
	Ops     int     `json:"ops"`
	Seconds float64 `json:"seconds"`
	Reason  string  `json:"reason,omitempty"`
	// Visualization is the path of Porcupine's HTML relative to the run
	// directory, set by Write.
	Visualization string `json:"visualization,omitempty"`
	// Method is what decided the key: MethodTagOrder, MethodReadMapping
	// or MethodPorcupine (see checkKey).
	Method string `json:"method,omitempty"`

	// probe, for a key decided by probePrefixes, bounds the diagnosis's
	// search: the prefix cut at completion probe.fail is not linearizable,
	// the one cut at probe.pass is. Nil when the whole history was checked.
	probe *probed
}

// probed is what probePrefixes learned: the failing prefix and the
// largest passing one below it (-1 for none).
type probed struct{ pass, fail int }

// OpRef names one client operation of the history.
type OpRef struct {
	// Line is the 1-based position of the operation's invoke among the
	// history's lines (the file line, as the writer emits no blank lines).
	Line    int          `json:"line"`
	Process int          `json:"process"`
	F       string       `json:"f"`
	Key     string       `json:"key"`
	Value   string       `json:"value"`
	Type    history.Type `json:"type"` // ok, fail, info, or "pending" (no completion)
	Invoke  int64        `json:"invoke_ns"`
	// Complete is the completion time; absent for pending operations.
	Complete *int64 `json:"complete_ns,omitempty"`
}

func (r *OpRef) String() string {
	s := fmt.Sprintf("%s %s", r.F, r.Key)
	if r.F == history.FWrite {
		s += " " + strconv.Quote(short(r.Value))
	} else if r.Type == history.Ok {
		s += " -> " + strconv.Quote(short(r.Value))
	}
	s += fmt.Sprintf(" (process %d, line %d, %s, %s", r.Process, r.Line, r.Type, fmtNS(r.Invoke))
	if r.Complete != nil {
		s += "–" + fmtNS(*r.Complete)
	}
	return s + ")"
}

// Anomaly is one violation found.
type Anomaly struct {
	Checker     string `json:"checker"`
	Key         string `json:"key"`
	Description string `json:"description"`
	// Op is the operation at which the key's history stops being
	// linearizable (linearizability), or the final read (durability).
	Op *OpRef `json:"op,omitempty"`
	// Lost are the acknowledged writes a final read did not see
	// (durability).
	Lost []OpRef `json:"lost,omitempty"`
	// OpUpperBound says the search for the first failing operation ran
	// out of time or memory: the key stops being linearizable at Op or
	// earlier (linearizability).
	OpUpperBound bool `json:"op_upper_bound,omitempty"`
	// LinearizablePrefix is how many of the key's operations (in
	// completion order) form a linearizable prefix; KeyOps is the total.
	LinearizablePrefix int    `json:"linearizable_prefix,omitempty"`
	KeyOps             int    `json:"key_ops,omitempty"`
	Visualization      string `json:"visualization,omitempty"`
	Note               string `json:"note,omitempty"`
	// Conflict is the minimal conflict: a smallest set of the key's
	// operations that cannot be linearized by itself (linearizability;
	// see conflict.go).
	Conflict *Conflict `json:"conflict,omitempty"`
}

// Durability summarizes the lost-write check.
type Durability struct {
	// KeysChecked have an ok read; KeysUnverified had ok writes but no ok
	// read after the last fault was healed, so nothing says whether their
	// writes survived (the run is then unknown).
	KeysChecked    int `json:"keys_checked"`
	KeysUnverified int `json:"keys_unverified"`
	// Unverified names the unverified keys.
	Unverified []string `json:"unverified,omitempty"`
	LostWrites int      `json:"lost_writes"`
}

// Result is the outcome of Check. It is what results.json holds.
type Result struct {
	Verdict  Verdict                  `json:"verdict"`
	Reason   string                   `json:"reason"`
	Checkers map[string]CheckerResult `json:"checkers"`
	// TimeGoes is the run's traces/summary.txt, shown in the report (not
	// stored in results.json: the file is there).
	TimeGoes string `json:"-"`
	// Meta is set by Write (and read back by ReadResult).
	Meta         *Meta       `json:"meta,omitempty"`
	Options      OptionsJSON `json:"options"`
	CheckSeconds float64     `json:"check_seconds"`
	Stats        Stats       `json:"stats"`
	Durability   Durability  `json:"durability"`
	Reached      Reached     `json:"reached"`
	Anomalies    []Anomaly   `json:"anomalies"`
	Keys         []KeyResult `json:"keys"`
	Notes        []string    `json:"notes,omitempty"`

	// What Write needs beyond the JSON: the history and, for invalid
	// keys, Porcupine's linearization info. Nil after ReadResult.
	hist  *prepared
	diags map[string]*diagnosis
}

// OptionsJSON is Options as recorded in results.json.
type OptionsJSON struct {
	Timeout        string  `json:"timeout"`
	VerboseTimeout string  `json:"verbose_timeout"`
	VerboseMaxOps  int     `json:"verbose_max_ops"`
	MinOK          int     `json:"min_ok"`
	MinOKShare     float64 `json:"min_ok_share"`
	MemoryLimit    int64   `json:"memory_limit"`
}

// ExitCode maps the verdict to the command-line contract: 0 valid,
// 1 invalid, 2 unknown.
func (r *Result) ExitCode() int {
	switch r.Verdict {
	case Valid:
		return 0
	case Invalid:
		return 1
	default:
		return 2
	}
}

// Check checks a history. It never panics on bad input: a malformed history
// is Unknown with a reason naming the line. ctx cancellation stops the
// check (Unknown for what was not decided).
func Check(ctx context.Context, ops []history.Op, opts Options) *Result {
	start := time.Now()
	opts = opts.WithDefaults()
	res := &Result{
		Checkers: map[string]CheckerResult{},
		Options: OptionsJSON{
			Timeout:        opts.Timeout.String(),
			VerboseTimeout: opts.VerboseTimeout.String(),
			VerboseMaxOps:  opts.VerboseMaxOps,
			MinOK:          opts.MinOK,
			MinOKShare:     opts.MinOKShare,
			MemoryLimit:    opts.MemoryLimit,
		},
		Anomalies: []Anomaly{},
		Keys:      []KeyResult{},
		diags:     map[string]*diagnosis{},
	}
	defer func() { res.CheckSeconds = time.Since(start).Seconds() }()

	h, err := prepare(ops)
	res.hist = h
	res.Stats = computeStats(h)
	if err != nil {
		res.Checkers[CheckHistory] = CheckerResult{Unknown, err.Error()}
		res.Verdict = Unknown
		res.Reason = "malformed history: " + err.Error()
		return res
	}
	res.Checkers[CheckHistory] = historyComplete(h, opts)
	if h.pending > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf(
			"%d operations have no completion (a truncated history); they are checked as info", h.pending))
	}

	res.checkLinearizability(ctx, h, opts)
	res.addConflicts(ctx, opts)
	opts.progress("files, durability, tags and reached states")
	res.checkFiles(h)
	res.checkDurability(h)
	res.checkTags(h)
	res.checkReached(h, opts)
	res.checkFloor(h, opts)
	res.decide()
	return res
}

// historyComplete says whether the checker saw the whole history: a
// history cut short (no end line, or operations without completions) can
// still show a violation, but cannot be called valid.
func historyComplete(h *prepared, opts Options) CheckerResult {
	var why []string
	if !h.ended && !opts.OpenEnded {
		why = append(why, "the history has no end-of-run line (cut short?)")
	}
	if h.pending > 0 {
		why = append(why, fmt.Sprintf("%d operations have no completion", h.pending))
	}
	if h.endError != "" {
		return CheckerResult{Unknown, "the run says it cannot pass: " + strings.Join(append(why, h.endError), "; ")}
	}
	if len(why) > 0 {
		return CheckerResult{Unknown, "incomplete history: " + strings.Join(why, "; ")}
	}
	return CheckerResult{Verdict: Valid}
}

// MarkIncomplete records that the history given to Check was not all
// of it (a malformed line ended the reading): a violation found in the
// prefix stands, but the run cannot be valid.
func (r *Result) MarkIncomplete(why string) {
	c := r.Checkers[CheckHistory]
	if c.Verdict != Unknown {
		c = CheckerResult{Unknown, "incomplete history: " + why}
	} else {
		c.Reason += "; " + why
	}
	r.Checkers[CheckHistory] = c
	r.decide()
}

// decide combines the checkers: a violation found by any checker is
// definitive; otherwise anything undecided makes the run Unknown.
func (r *Result) decide() {
	var invalid, unknown []string
	for _, name := range []string{CheckHistory, CheckLinearizability, CheckFiles, CheckDurability, CheckTags, CheckFloor, CheckReached} {
		c, ok := r.Checkers[name]
		if !ok {
			continue
		}
		switch c.Verdict {
		case Invalid:
			invalid = append(invalid, name+": "+c.Reason)
		case Unknown:
			unknown = append(unknown, name+": "+c.Reason)
		}
	}
	switch {
	case len(invalid) > 0:
		r.Verdict, r.Reason = Invalid, strings.Join(invalid, "; ")
	case len(unknown) > 0:
		r.Verdict, r.Reason = Unknown, strings.Join(unknown, "; ")
	default:
		r.Verdict = Valid
		r.Reason = r.Checkers[CheckLinearizability].Reason
		if d := r.Checkers[CheckDurability].Reason; d != "" {
			r.Reason += "; " + d
		}
		if f := r.Checkers[CheckFloor].Reason; f != "" {
			r.Reason += "; " + f
		}
	}
}

// checkFloor refuses to call a run valid when too little happened: an
// unavailable cluster would otherwise pass every check trivially. Only
// workload operations count (not the harness's final reads). Three floors:
//   - enough ok operations: max(MinOK, MinOKShare × invoked);
//   - at least one acknowledged write and one ok read, for each of the two
//     that the workload issues at all;
//   - the same in the warm-up before the first fault: a cluster that never
//     worked before it was faulted says nothing about faults.
func (r *Result) checkFloor(h *prepared, opts Options) {
	if opts.MinOK < 0 && opts.MinOKShare < 0 {
		r.Checkers[CheckFloor] = CheckerResult{Valid, "floor disabled"}
		return
	}
	firstFault := int64(-1)
	if len(h.nemesis) > 0 {
		firstFault = h.nemesis[0].Start
	}
	var invoked, ok int
	var issued, okBy, warmBy [2]int // by f: 0 read, 1 write
	for i := range h.ops {
		o := &h.ops[i]
		if o.final {
			continue
		}
		f := 0
		if o.f == history.FWrite {
			f = 1
		}
		invoked++
		issued[f]++
		if o.typ != history.Ok {
			continue
		}
		ok++
		okBy[f]++
		if firstFault < 0 || o.ret < firstFault {
			warmBy[f]++
		}
	}
	need := 0
	if opts.MinOK > 0 {
		need = opts.MinOK
	}
	if opts.MinOKShare > 0 {
		if n := int(math.Ceil(opts.MinOKShare * float64(invoked))); n > need {
			need = n
		}
	}
	var parts []string
	if opts.MinOK > 0 {
		parts = append(parts, fmt.Sprintf("min-ok %d", opts.MinOK))
	}
	if opts.MinOKShare > 0 {
		parts = append(parts, fmt.Sprintf("%.3g%% of %d invoked", opts.MinOKShare*100, invoked))
	}
	floor := fmt.Sprintf("at least %d ok workload operations (%s), an acknowledged write and an ok read, also before the first fault",
		need, strings.Join(parts, ", "))
	names := [2]string{"ok read", "acknowledged write"}
	var missed []string
	if ok < need {
		missed = append(missed, fmt.Sprintf("ok-operations floor: only %d ok workload operations of %d invoked", ok, invoked))
	}
	for f := range 2 {
		switch {
		case issued[f] > 0 && okBy[f] == 0:
			missed = append(missed, fmt.Sprintf("%s floor: no %s among %d invoked", names[f], names[f], issued[f]))
		case issued[f] > 0 && warmBy[f] == 0 && firstFault >= 0:
			missed = append(missed, fmt.Sprintf("warm-up floor: no %s before the first fault at %s", names[f], fmtNS(firstFault)))
		}
	}
	if len(missed) > 0 {
		r.Checkers[CheckFloor] = CheckerResult{Unknown, strings.Join(missed, "; ") + " (floor: " + floor + ")"}
		return
	}
	r.Checkers[CheckFloor] = CheckerResult{Valid, fmt.Sprintf(
		"%d ok workload operations of %d invoked (%d reads, %d writes ok; before the first fault %d and %d)",
		ok, invoked, okBy[0], okBy[1], warmBy[0], warmBy[1])}
}

// defaultMemoryLimit is a quarter of the machine's memory, so that the
// checker leaves room for the cluster that may still be running.
func defaultMemoryLimit() int64 {
	const fallback = 2 << 30
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return fallback
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || kb <= 0 {
				return fallback
			}
			return kb * 1024 / 4
		}
	}
	return fallback
}

func workers() int {
	n := runtime.GOMAXPROCS(0)
	if n < 1 {
		n = 1
	}
	return n
}

// short truncates a value for descriptions.
func short(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

func fmtNS(ns int64) string {
	return strconv.FormatFloat(float64(ns)/1e9, 'f', 3, 64) + "s"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
