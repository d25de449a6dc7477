package checker

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ares-torture/torture/history"
)

// pendingType marks an operation whose invoke has no completion (the
// history was cut short). It is checked as info.
const pendingType history.Type = "pending"

// clientOp is one client operation: an invoke paired with its completion.
type clientOp struct {
	line    int // 1-based position of the invoke line
	process int
	f       string
	key     string
	// value is the written value for writes and the returned value for ok
	// reads.
	value string
	call  int64
	ret   int64 // completion time; -1 when pending
	typ   history.Type
	err   string
	// Optional protocol facts of the completion (see history.Op): tag is
	// nil and config -1 when the history does not carry them.
	tag      *history.Tag
	config   int64
	configs  int
	elements int
	behind   bool
	// final marks the harness's final reads (not workload operations).
	final bool
	// Cover and cas operations (cover.go): orig is the recorded function
	// when f was rewritten; base and baseValue are the version a cover is
	// based on (the value a cas expects); covered and got are a covered
	// write's outcome and the value it returned.
	orig      string
	base      *history.Tag
	baseValue string
	covered   bool
	got       string
	// baseRead is a successful cover's derived read of its base, derived
	// marks such a read, and selfCovered a covered write that returned its
	// own base.
	baseRead    *clientOp
	derived     bool
	selfCovered bool
	// file marks a whole-file operation (files.go): f is read or write,
	// orig read-file or write-file; only the files check looks at it.
	file bool
}

func (o *clientOp) ref() *OpRef {
	r := &OpRef{Line: o.line, Process: o.process, F: o.f, Key: o.key, Value: o.value, Type: o.typ, Invoke: o.call}
	if o.orig != "" {
		r.F = o.orig
	}
	if o.ret >= 0 {
		t := o.ret
		r.Complete = &t
	}
	if o.f == history.FRead && o.typ != history.Ok {
		r.Value = ""
	}
	return r
}

// interval is one nemesis fault from its start to its stop.
type interval struct {
	Fault string `json:"fault"`
	Value string `json:"value,omitempty"`
	// Error is what the nemesis reported: a fault that could not be
	// applied or healed cleanly.
	Error string `json:"error,omitempty"`
	ID    int    `json:"id"`
	Start int64  `json:"start_ns"`
	End   int64  `json:"end_ns"`
	// Open faults were never stopped in the history; End is the history's
	// end.
	Open bool `json:"open,omitempty"`
}

// prepared is a validated history.
type prepared struct {
	ops     []clientOp // in invoke order
	nemesis []interval // by start time
	begin   int64      // earliest time of any line
	end     int64      // latest time of any line
	pending int
	keys    []string
	// files are the fragmented files of whole-file operations (files.go),
	// not in keys.
	files []string
	// ended says the history closes with its end-of-run line; requested
	// are the fault kinds that line says the run asked for, and endError
	// why it says the run cannot pass.
	ended     bool
	requested []string
	endError  string
}

// prepare pairs invokes with completions and validates the history. On a
// malformed line it returns what was paired before it and an error naming
// the line and process.
func prepare(ops []history.Op) (*prepared, error) {
	h := &prepared{ops: make([]clientOp, 0, len(ops)/2+1)} // an invoke and a completion per op
	inflight := map[int]int{}                              // process -> index into h.ops
	open := map[string]int{}                               // fault/id -> index into h.nemesis
	keys := map[string]bool{}
	first := true
	var err error
	for i := range ops {
		op := &ops[i]
		line := i + 1
		if op.Time < 0 {
			err = fmt.Errorf("line %d: negative time %d", line, op.Time)
			break
		}
		if first || op.Time < h.begin {
			h.begin = op.Time
		}
		if first || op.Time > h.end {
			h.end = op.Time
		}
		first = false
		switch op.Type {
		case history.Nemesis:
			id := fmt.Sprintf("%s/%d", op.Fault, op.ID)
			switch op.F {
			case history.FStart:
				open[id] = len(h.nemesis)
				h.nemesis = append(h.nemesis, interval{Fault: op.Fault, Value: op.Value, Error: op.Error, ID: op.ID, Start: op.Time, End: -1})
			case history.FStop:
				j, ok := open[id]
				if !ok {
					// A stop without a start tells nothing about when the
					// fault began; draw it as an instant.
					h.nemesis = append(h.nemesis, interval{Fault: op.Fault, Value: op.Value, Error: op.Error, ID: op.ID, Start: op.Time, End: op.Time})
					continue
				}
				delete(open, id)
				iv := &h.nemesis[j]
				iv.End = op.Time
				// A reconfiguration's stop names the configuration it
				// reached.
				switch {
				case iv.Value == "":
					iv.Value = op.Value
				case op.Value != "" && op.Value != iv.Value:
					iv.Value += " → " + op.Value
				}
				if op.Error != "" {
					if iv.Error != "" {
						iv.Error += "; "
					}
					iv.Error += op.Error
				}
			default:
				err = fmt.Errorf("line %d: nemesis line with f %q", line, op.F)
			}
		case history.Invoke:
			if !history.ClientF(op.F) {
				err = fmt.Errorf("line %d: process %d: unknown f %q", line, op.Process, op.F)
				break
			}
			if j, ok := inflight[op.Process]; ok {
				err = fmt.Errorf("line %d: process %d invokes %s while its %s from line %d is still in flight",
					line, op.Process, op.F, h.ops[j].f, h.ops[j].line)
				break
			}
			inflight[op.Process] = len(h.ops)
			keys[op.Key] = true
			c := clientOp{line: line, process: op.Process, f: op.F, key: op.Key, call: op.Time, ret: -1, typ: pendingType,
				config: -1, final: op.Final}
			if op.F != history.FRead {
				c.value = op.Value
			}
			if op.F == history.FCover || op.F == history.FCAS {
				c.base, c.baseValue = op.Base, op.BaseValue
			}
			if op.F == history.FCover {
				c.orig = op.F
			}
			h.ops = append(h.ops, c)
		case history.Ok, history.Fail, history.Info:
			j, ok := inflight[op.Process]
			if !ok {
				err = fmt.Errorf("line %d: %s completion for process %d, which has no operation in flight",
					line, op.Type, op.Process)
				break
			}
			c := &h.ops[j]
			switch {
			case op.F != c.f:
				err = fmt.Errorf("line %d: process %d completes %s but invoked %s on line %d",
					line, op.Process, op.F, c.f, c.line)
			case op.Key != "" && op.Key != c.key:
				err = fmt.Errorf("line %d: process %d completes key %q but invoked key %q on line %d",
					line, op.Process, op.Key, c.key, c.line)
			case op.Time < c.call:
				err = fmt.Errorf("line %d: process %d completes at %d, before its invoke at %d on line %d",
					line, op.Process, op.Time, c.call, c.line)
			}
			if err != nil {
				break
			}
			delete(inflight, op.Process)
			c.ret, c.typ, c.err = op.Time, op.Type, op.Error
			c.tag, c.configs, c.elements, c.behind = op.Tag, op.Configs, op.Elements, op.Behind
			c.final = c.final || op.Final
			if op.Config != nil {
				c.config = int64(*op.Config)
			}
			if (c.f == history.FRead || c.f == history.FReadFile) && op.Type == history.Ok {
				c.value = op.Value
			}
			if c.f == history.FCover && op.Type == history.Ok {
				c.covered, c.got = op.Covered, op.Value
			}
		case history.End:
			h.ended = true
			h.endError = op.Error
			h.requested = nil
			for _, f := range strings.Split(op.Fault, ",") {
				if f = strings.TrimSpace(f); f != "" {
					h.requested = append(h.requested, f)
				}
			}
		case "":
			err = fmt.Errorf("line %d: missing type", line)
		default:
			err = fmt.Errorf("line %d: unknown type %q", line, op.Type)
		}
		if err != nil {
			break
		}
	}
	for j := range h.nemesis {
		if h.nemesis[j].End < 0 {
			h.nemesis[j].End, h.nemesis[j].Open = h.end, true
		}
	}
	sort.SliceStable(h.nemesis, func(a, b int) bool { return h.nemesis[a].Start < h.nemesis[b].Start })
	for j := range h.ops {
		if h.ops[j].typ == pendingType {
			h.pending++
		}
	}
	h.keys = sortedKeys(keys)
	h.expandCover()
	h.markFiles()
	return h, err
}

// byKey groups the operations by key, keeping invoke order.
func (h *prepared) byKey() map[string][]*clientOp {
	m := map[string][]*clientOp{}
	for i := range h.ops {
		o := &h.ops[i]
		if !o.file {
			m[o.key] = append(m[o.key], o)
		}
	}
	return m
}
