// Package foreign converts histories written by other tools into torture's
// history format (package history), so that `torture check --format ...`
// checks them with torture's checker and writes the same report.
//
// Two formats are read, both EDN (see ReadEDN for the subset):
//
//   - Jepsen: register and cas-register histories, one operation map per
//     line or a vector of them, as Jepsen and Knossos write them:
//     {:type :invoke, :f :read, :value nil, :process 0, :time 123}. :f is
//     :read, :write or :cas (:value [old new]); the independent-keys form of
//     jepsen.independent has :value [key v] (cas: [key [old new]]). Nemesis
//     operations (a :process that is not an integer) are left out and
//     listed. :time is in nanoseconds; without it on every operation, the
//     operation's position in the file is its time.
//   - Porcupine's key-value logs (its test_data/kv): {:process 0, :type
//     :invoke, :f :get, :key "6", :value nil}, with :get, :put and :append.
//     Gets and puts become reads and writes. torture has no append model:
//     appends are not checked, nor are the other operations of their keys
//     (a get of an appended value would look like a violation), and a
//     history with appends is at best unknown.
//
// Every operation is converted, or listed as skipped with the reason (the
// conversion's notes, written as conversion.txt next to the converted
// history), or the input is refused with an error naming its line. A
// client operation that is skipped makes the check unknown at best: the
// converted history's end line carries the reason as its error.
package foreign

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/ares-torture/torture/history"
)

// Format names a history format `torture check --format` reads.
type Format string

// The formats.
const (
	// Torture is torture's own history.jsonl (package history).
	Torture Format = "torture"
	// Jepsen is a Jepsen register or cas-register history in EDN.
	Jepsen Format = "jepsen"
	// PorcupineKV is Porcupine's key-value test log (get, put, append).
	PorcupineKV Format = "porcupine-kv"
)

// Formats lists the formats in the order help texts name them.
var Formats = []Format{Torture, Jepsen, PorcupineKV}

// ParseFormat returns the format named s.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = string(f)
	}
	return "", fmt.Errorf("unknown history format %q (known: %s)", s, strings.Join(names, ", "))
}

// Skipped is an operation of the foreign history that was not converted.
type Skipped struct {
	// Line is the 1-based line of the operation in the foreign file.
	Line int
	// Op is the operation as written (EDN).
	Op string
	// Type and F are its :type and :f (without colons), Key its key if
	// it names one.
	Type, F, Key string
	// Reason says why it was left out.
	Reason string
	// Client is true for a client operation (its absence makes the check
	// unknown at best), false for a nemesis operation.
	Client bool
}

// Conversion is a foreign history converted to torture's format.
type Conversion struct {
	Format Format
	// Source is the file converted, if any.
	Source string
	// Ops is the converted history, ending with an end line whose error
	// says why the check cannot be valid when client operations were
	// skipped.
	Ops []history.Op
	// Converted counts the client operations converted (an invocation and
	// its completion are one).
	Converted int
	// Skipped lists the operations (invocations and completions) left out.
	Skipped []Skipped
	// Unchecked are the keys none of whose operations are checked
	// (Porcupine keys with appends).
	Unchecked []string
	// Notes say what the conversion assumed (times, closed operations).
	Notes []string
}

// LineError is one problem with the foreign history, at a line.
type LineError struct {
	Line int
	Msg  string
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// Error is why a foreign history could not be converted: every problem
// found, each naming its line. Nothing is checked then.
type Error struct {
	Format Format
	Source string
	Errs   []error // *LineError or *SyntaxError
}

// maxListed caps the problems an Error's message lists.
const maxListed = 10

func (e *Error) Error() string {
	src := e.Source
	if src == "" {
		src = "input"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s is not a %s history that torture can convert (%d problems, nothing was checked)", src, e.Format, len(e.Errs))
	for i, err := range e.Errs {
		if i == maxListed {
			fmt.Fprintf(&b, "; and %d more", len(e.Errs)-maxListed)
			break
		}
		b.WriteString("; ")
		b.WriteString(err.Error())
	}
	return b.String()
}

// Unwrap returns the problems.
func (e *Error) Unwrap() []error { return e.Errs }

// ConvertFile reads and converts the foreign history at path.
func ConvertFile(f Format, path string) (*Conversion, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Convert(f, string(b))
	var ce *Error
	if errors.As(err, &ce) {
		ce.Source = path
	}
	if c != nil {
		c.Source = path
	}
	return c, err
}

// Convert converts the foreign history src of format f (Jepsen or
// PorcupineKV). On bad input it returns an *Error listing every problem
// found (a syntax error ends the reading), and no conversion.
func Convert(f Format, src string) (*Conversion, error) {
	var dec decoder
	switch f {
	case Jepsen:
		dec = &jepsenDecoder{}
	case PorcupineKV:
		dec = kvDecoder{}
	default:
		return nil, fmt.Errorf("foreign: cannot convert format %q", f)
	}
	forms, err := ReadEDN(src)
	cv := &converter{format: f, dec: dec, conv: &Conversion{Format: f}, inflight: map[int]*pending{}}
	if err != nil {
		cv.errs = append(cv.errs, err)
	} else {
		cv.run(forms)
	}
	if len(cv.errs) > 0 {
		return nil, &Error{Format: f, Errs: cv.errs}
	}
	return cv.conv, nil
}

// An operation decoded from a foreign map: the torture f, key, value and
// (cas) base value.
type decoded struct {
	f, key, value, base string
}

// decoder is what differs between the formats: how an operation map's
// :f, :key and :value become a torture operation.
type decoder interface {
	// invoke decodes an invocation. skip, when not empty, says why the
	// operation (a well-formed one) cannot be converted.
	invoke(m *Map, f Keyword) (d decoded, skip string, err error)
	// readValue decodes the value an ok read returned; inv is its
	// invocation.
	readValue(m *Map, inv decoded) (string, error)
	// completionKey returns the key a completion names, if it names one.
	completionKey(m *Map, inv decoded) (string, bool)
}

// pending is an invocation awaiting its completion.
type pending struct {
	line   int
	srcF   Keyword
	d      decoded
	skip   string
	index  int // into out, or -1 when skipped
	source string
}

type converter struct {
	format   Format
	dec      decoder
	conv     *Conversion
	errs     []error
	inflight map[int]*pending

	out   []history.Op
	lines []int // source line of each op of out
	texts []string
	// times: every op has :time, else positions are used.
	allTimed bool
}

func (cv *converter) errorf(line int, format string, args ...any) {
	cv.errs = append(cv.errs, &LineError{Line: line, Msg: fmt.Sprintf(format, args...)})
}

// ops flattens the top-level forms into operation maps: a map is one, a
// vector or list (a whole history) holds them.
func (cv *converter) ops(forms []Form) []*Map {
	var ms []*Map
	for _, fm := range forms {
		switch v := fm.Value.(type) {
		case *Map:
			ms = append(ms, v)
		case Vector, List:
			var items []any
			if vv, ok := v.(Vector); ok {
				items = vv
			} else {
				items = v.(List)
			}
			for i, it := range items {
				m, ok := it.(*Map)
				if !ok {
					cv.errorf(fm.Line, "item %d of the history is %s, not an operation map", i+1, short(ednString(it)))
					continue
				}
				ms = append(ms, m)
			}
		default:
			cv.errorf(fm.Line, "%s is not an operation map", short(ednString(fm.Value)))
		}
	}
	return ms
}

func (cv *converter) run(forms []Form) {
	ms := cv.ops(forms)
	cv.allTimed = len(ms) > 0
	for _, m := range ms {
		if _, ok := m.Get("time"); !ok {
			cv.allTimed = false
		}
	}
	if !cv.allTimed && len(ms) > 0 {
		cv.conv.Notes = append(cv.conv.Notes, "not every operation has a :time: an operation's time is its position in the file (1, 2, ...)")
	}
	last := int64(0)
	for i, m := range ms {
		t := int64(i + 1)
		if cv.allTimed {
			tv, _ := m.Get("time")
			n, err := intOf(tv)
			if err != nil || n < 0 {
				cv.errorf(m.Line, ":time %s is not a time in nanoseconds", ednString(tv))
				continue
			}
			t = n
		}
		last = max(last, t)
		cv.op(m, t)
	}
	// Invocations never completed: indeterminate, as Jepsen takes them.
	var open []*pending
	for _, p := range cv.inflight {
		open = append(open, p)
	}
	sort.Slice(open, func(a, b int) bool { return open[a].line < open[b].line })
	for _, p := range open {
		if p.index < 0 {
			continue
		}
		inv := cv.out[p.index]
		cv.emit(history.Op{Type: history.Info, Process: inv.Process, F: inv.F, Key: inv.Key, Value: inv.Value,
			BaseValue: inv.BaseValue, Time: last, Error: "no completion in the foreign history"}, p.line, p.source)
	}
	if len(open) > 0 {
		cv.conv.Notes = append(cv.conv.Notes, fmt.Sprintf(
			"%d invocations have no completion: they are closed as info (indeterminate) at the history's last time, as Jepsen does", len(open)))
	}
	cv.finish(last)
}

func (cv *converter) emit(o history.Op, line int, text string) int {
	cv.out = append(cv.out, o)
	cv.lines = append(cv.lines, line)
	cv.texts = append(cv.texts, text)
	return len(cv.out) - 1
}

func (cv *converter) skip(s Skipped) {
	cv.conv.Skipped = append(cv.conv.Skipped, s)
}

// op converts one operation map at time t.
func (cv *converter) op(m *Map, t int64) {
	text := ednString(m)
	typV, _ := m.Get("type")
	typK, ok := typV.(Keyword)
	var typ history.Type
	switch {
	case !ok:
		cv.errorf(m.Line, "operation without a keyword :type: %s", short(text))
		return
	case typK == "invoke":
		typ = history.Invoke
	case typK == "ok":
		typ = history.Ok
	case typK == "fail":
		typ = history.Fail
	case typK == "info":
		typ = history.Info
	default:
		cv.errorf(m.Line, "unknown :type :%s", typK)
		return
	}
	fV, _ := m.Get("f")
	f, ok := fV.(Keyword)
	if !ok {
		cv.errorf(m.Line, "operation without a keyword :f: %s", short(text))
		return
	}
	procV, hasProc := m.Get("process")
	if !hasProc {
		cv.errorf(m.Line, "operation without a :process: %s", short(text))
		return
	}
	proc64, err := intOf(procV)
	if err != nil {
		if _, isKw := procV.(Keyword); isKw && cv.format == Jepsen {
			cv.skip(Skipped{Line: m.Line, Op: text, Type: string(typK), F: string(f),
				Reason: fmt.Sprintf("nemesis operation (process %s): faults are not carried over", ednString(procV))})
			return
		}
		cv.errorf(m.Line, ":process %s is not an integer", ednString(procV))
		return
	}
	if proc64 < 0 || proc64 >= history.BlockProcess {
		cv.errorf(m.Line, ":process %d is out of range (0 to %d)", proc64, history.BlockProcess-1)
		return
	}
	proc := int(proc64)

	if typ == history.Invoke {
		if p, busy := cv.inflight[proc]; busy {
			cv.errorf(m.Line, "process %d invokes :%s while its :%s from line %d has not completed", proc, f, p.srcF, p.line)
			return
		}
		d, why, err := cv.dec.invoke(m, f)
		if err != nil {
			cv.errorf(m.Line, "%v", err)
			return
		}
		p := &pending{line: m.Line, srcF: f, d: d, skip: why, index: -1, source: text}
		cv.inflight[proc] = p
		if why != "" {
			cv.skip(Skipped{Line: m.Line, Op: text, Type: string(typK), F: string(f), Key: d.key, Reason: why, Client: true})
			return
		}
		inv := history.Op{Type: history.Invoke, Process: proc, F: d.f, Key: d.key, Time: t}
		if d.f != history.FRead {
			inv.Value, inv.BaseValue = d.value, d.base
		}
		p.index = cv.emit(inv, m.Line, text)
		cv.conv.Converted++
		return
	}

	p, ok := cv.inflight[proc]
	if !ok {
		cv.errorf(m.Line, ":%s completion of process %d, which has no invocation in flight", typK, proc)
		return
	}
	if f != p.srcF {
		cv.errorf(m.Line, "process %d completes :%s but invoked :%s on line %d", proc, f, p.srcF, p.line)
		return
	}
	delete(cv.inflight, proc)
	if p.skip != "" {
		cv.skip(Skipped{Line: m.Line, Op: text, Type: string(typK), F: string(f), Key: p.d.key,
			Reason: p.skip + " (the completion of line " + strconv.Itoa(p.line) + ")", Client: true})
		return
	}
	if k, named := cv.dec.completionKey(m, p.d); named && k != p.d.key {
		cv.errorf(m.Line, "process %d completes key %q but invoked key %q on line %d", proc, k, p.d.key, p.line)
		return
	}
	inv := cv.out[p.index]
	if t < inv.Time {
		cv.errorf(m.Line, "process %d completes at %d, before its invocation at %d on line %d", proc, t, inv.Time, p.line)
		return
	}
	done := history.Op{Type: typ, Process: proc, F: inv.F, Key: inv.Key, Value: inv.Value, BaseValue: inv.BaseValue, Time: t}
	if inv.F == history.FRead {
		done.Value = ""
		if typ == history.Ok {
			v, err := cv.dec.readValue(m, p.d)
			if err != nil {
				cv.errorf(m.Line, "%v", err)
				return
			}
			done.Value = v
		}
	}
	if e, ok := m.Get("error"); ok && typ != history.Ok {
		if s, isStr := e.(string); isStr {
			done.Error = s
		} else {
			done.Error = ednString(e)
		}
	}
	cv.emit(done, m.Line, text)
}

// finish drops the operations of unchecked keys and writes the end line.
func (cv *converter) finish(last int64) {
	c := cv.conv
	unchecked := map[string]bool{}
	appends, unsupported, nemesis := 0, map[string]int{}, 0
	for _, s := range c.Skipped {
		switch {
		case !s.Client:
			nemesis++
		case strings.HasPrefix(s.Reason, appendReason):
			unchecked[s.Key] = true
			if s.Type == "invoke" {
				appends++
			}
		case strings.HasPrefix(s.Reason, unsupportedReason):
			if s.Type == "invoke" {
				unsupported[":"+s.F]++
			}
		}
	}
	for k := range unchecked {
		c.Unchecked = append(c.Unchecked, k)
	}
	sort.Strings(c.Unchecked)
	dropped := 0
	for i, o := range cv.out {
		if !unchecked[o.Key] {
			c.Ops = append(c.Ops, o)
			continue
		}
		if o.Type == history.Invoke {
			dropped++
			c.Converted--
		}
		cv.skip(Skipped{Line: cv.lines[i], Op: cv.texts[i], Type: string(o.Type), F: o.F, Key: o.Key, Client: true,
			Reason: fmt.Sprintf("key %q has append operations: none of its operations is checked", o.Key)})
	}
	sort.SliceStable(c.Skipped, func(a, b int) bool { return c.Skipped[a].Line < c.Skipped[b].Line })

	end := history.Op{Type: history.End, Time: last}
	var why []string
	if appends > 0 {
		why = append(why, fmt.Sprintf("%d append operations on %d keys (%s) cannot be checked, as torture's models have no append; the %d other operations of those keys are left out with them",
			appends, len(c.Unchecked), strings.Join(quoteAll(c.Unchecked), ", "), dropped))
	}
	if len(unsupported) > 0 {
		var fs []string
		for f, n := range unsupported {
			fs = append(fs, fmt.Sprintf("%s ×%d", f, n))
		}
		sort.Strings(fs)
		why = append(why, "operations of functions torture cannot check are left out: "+strings.Join(fs, ", "))
	}
	if nemesis > 0 {
		c.Notes = append(c.Notes, fmt.Sprintf("%d nemesis operations left out: the report shows no faults", nemesis))
	}
	if len(why) > 0 {
		end.Error = "foreign " + string(c.Format) + " history: " + strings.Join(why, "; ") + " (listed in " + NotesFile + ")"
	}
	c.Ops = append(c.Ops, end)
}

func quoteAll(ss []string) []string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return q
}

// Reasons a client operation is skipped; finish counts them by prefix.
const (
	appendReason      = "append on key "
	unsupportedReason = "unsupported function "
)

// jepsenDecoder decodes register and cas-register operations, plain or
// in jepsen.independent's [key value] form; the first operation decides
// which, and every other must be of the same form.
type jepsenDecoder struct {
	form     int // 0 undecided, 1 plain, 2 independent
	formLine int
}

// plainKey is the key of a plain (single-register) Jepsen history.
const plainKey = "register"

func (j *jepsenDecoder) invoke(m *Map, f Keyword) (decoded, string, error) {
	v, _ := m.Get("value")
	var d decoded
	switch f {
	case "read":
		d.f = history.FRead
	case "write":
		d.f = history.FWrite
	case "cas":
		d.f = history.FCAS
	default:
		return d, fmt.Sprintf("%s:%s: torture checks :read, :write and :cas of registers", unsupportedReason, f), nil
	}
	tuple, isVec := v.(Vector)
	indep := isVec && len(tuple) == 2
	if f == "cas" {
		indep = indep && isPair(tuple[1])
	}
	form := 1
	if indep {
		form = 2
	}
	line := m.Line
	switch {
	case j.form == 0:
		j.form, j.formLine = form, line
	case j.form != form:
		names := map[int]string{1: "a plain register operation", 2: "an independent-keys operation (:value [key value])"}
		return d, "", fmt.Errorf(":%s %s is %s, but line %d is %s", f, ednString(v), names[form], j.formLine, names[j.form])
	}
	d.key = plainKey
	if indep {
		k, err := scalar(tuple[0])
		if err != nil || tuple[0] == nil {
			return d, "", fmt.Errorf("key %s of :%s is not a key", ednString(tuple[0]), f)
		}
		d.key, v = k, tuple[1]
	}
	switch f {
	case "write":
		s, err := scalar(v)
		if err != nil {
			return d, "", fmt.Errorf(":write of %s: %v", ednString(v), err)
		}
		d.value = s
	case "cas":
		pair, ok := v.(Vector)
		if !ok || len(pair) != 2 {
			return d, "", fmt.Errorf(":cas value %s is not [old new]", ednString(v))
		}
		old, err1 := scalar(pair[0])
		nw, err2 := scalar(pair[1])
		if err := errors.Join(err1, err2); err != nil {
			return d, "", fmt.Errorf(":cas %s: %v", ednString(v), err)
		}
		d.base, d.value = old, nw
	}
	return d, "", nil
}

func isPair(v any) bool {
	p, ok := v.(Vector)
	return ok && len(p) == 2
}

func (j *jepsenDecoder) readValue(m *Map, inv decoded) (string, error) {
	v, _ := m.Get("value")
	if j.form == 2 {
		t, ok := v.(Vector)
		if !ok || len(t) != 2 {
			return "", fmt.Errorf(":ok :read value %s is not [key value]", ednString(v))
		}
		v = t[1]
	}
	s, err := scalar(v)
	if err != nil {
		return "", fmt.Errorf(":ok :read of %s: %v", ednString(v), err)
	}
	return s, nil
}

func (j *jepsenDecoder) completionKey(m *Map, inv decoded) (string, bool) {
	if j.form != 2 {
		return "", false
	}
	v, _ := m.Get("value")
	t, ok := v.(Vector)
	if !ok || len(t) != 2 {
		return "", false
	}
	k, err := scalar(t[0])
	return k, err == nil && t[0] != nil
}

// kvDecoder decodes Porcupine's key-value log operations.
type kvDecoder struct{}

func (kvDecoder) invoke(m *Map, f Keyword) (decoded, string, error) {
	kv, ok := m.Get("key")
	if !ok {
		return decoded{}, "", fmt.Errorf(":%s without a :key", f)
	}
	k, err := scalar(kv)
	if err != nil || kv == nil {
		return decoded{}, "", fmt.Errorf(":key %s is not a key", ednString(kv))
	}
	d := decoded{key: k}
	v, _ := m.Get("value")
	switch f {
	case "get":
		d.f = history.FRead
	case "put":
		d.f = history.FWrite
		if d.value, err = scalar(v); err != nil {
			return d, "", fmt.Errorf(":put of %s: %v", ednString(v), err)
		}
	case "append":
		return d, fmt.Sprintf("%s%q: torture's models have no append", appendReason, k), nil
	default:
		return d, fmt.Sprintf("%s:%s: torture checks :get and :put", unsupportedReason, f), nil
	}
	return d, "", nil
}

func (kvDecoder) readValue(m *Map, inv decoded) (string, error) {
	v, _ := m.Get("value")
	s, err := scalar(v)
	if err != nil {
		return "", fmt.Errorf(":ok :get of %s: %v", ednString(v), err)
	}
	return s, nil
}

func (kvDecoder) completionKey(m *Map, inv decoded) (string, bool) {
	kv, ok := m.Get("key")
	if !ok {
		return "", false
	}
	k, err := scalar(kv)
	return k, err == nil && kv != nil
}

// scalar is a register value or key as torture's string: nil is "" (the
// initial value), a string itself, a number its digits, a keyword
// ":name". A collection is refused: register values are scalars.
func scalar(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case Number, Keyword, Symbol, bool, Char:
		return ednString(x), nil
	}
	return "", fmt.Errorf("%s is not a scalar value", short(ednString(v)))
}

// intOf returns the integer v.
func intOf(v any) (int64, error) {
	n, ok := v.(Number)
	if !ok {
		return 0, fmt.Errorf("%s is not an integer", ednString(v))
	}
	return strconv.ParseInt(string(n), 10, 64)
}

// short cuts s for a message.
func short(s string) string {
	const n = 120
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
