package checker

import (
	"fmt"
	"strconv"

	"github.com/ares-torture/torture/history"
)

// CheckTags is the tag checker's name in Result.Checkers.
const CheckTags = "tags"

// checkTags checks the protocol's invariant behind atomicity: a tag names
// one write, and a write has one tag. Where the history records tags, two
// ok operations of a key that carry the same tag with different values
// (an ok write and a read of another value, or two reads) show two values
// stored under one tag: which one a reader sees then depends on which
// servers answer first, and EC decodes elements of both into garbage. It
// is a violation even when the reads seen so far happen to linearize.
// Written values are unique, so one value under two tags is one too (a
// value stored under a tag its write never had). The initial value ("")
// has the initial tag.
//
// A history without tags is not judged (valid, reason says so).
func (r *Result) checkTags(h *prepared) {
	type keyTag struct {
		key string
		tag history.Tag
	}
	type keyValue struct{ key, value string }
	byTag := map[keyTag]*clientOp{}     // the first op with each tag
	byValue := map[keyValue]*clientOp{} // the first op with each value
	tagged, dups := 0, 0
	flag := func(o *clientOp, desc, note string) {
		dups++
		r.Anomalies = append(r.Anomalies, Anomaly{Checker: CheckTags, Key: o.key, Op: o.ref(), Description: desc, Note: note})
	}
	for i := range h.ops {
		o := &h.ops[i]
		if o.typ != history.Ok || o.tag == nil {
			continue
		}
		tagged++
		t := *o.tag
		if t.IsZero() && o.value != "" {
			flag(o, fmt.Sprintf("%s %s %q under the initial value's tag %s", o.f, o.key, short(o.value), t), "")
			continue
		}
		if p, ok := byValue[keyValue{o.key, o.value}]; !ok {
			byValue[keyValue{o.key, o.value}] = o
		} else if *p.tag != t {
			flag(o, fmt.Sprintf("one value under two tags: %s (line %d) has %s with %s, %s (line %d) with %s",
				p.f, p.line, strconv.Quote(short(o.value)), *p.tag, o.f, o.line, t), "")
			continue
		}
		if o.value == "" && !t.IsZero() {
			flag(o, fmt.Sprintf("%s %s returned the initial value under tag %s", o.f, o.key, t), "")
			continue
		}
		f, ok := byTag[keyTag{o.key, t}]
		if !ok {
			byTag[keyTag{o.key, t}] = o
			continue
		}
		if f.value != o.value {
			flag(o, fmt.Sprintf("two values under one tag %s: %s (line %d) has %s, %s (line %d) has %s",
				t, f.f, f.line, strconv.Quote(short(f.value)), o.f, o.line, strconv.Quote(short(o.value))),
				"a tag must name one write: reads of this key depend on which servers answer first")
		}
	}
	switch {
	case tagged == 0:
		r.Checkers[CheckTags] = CheckerResult{Valid, "no tags recorded"}
	case dups > 0:
		r.Checkers[CheckTags] = CheckerResult{Invalid, fmt.Sprintf("%d operations break the one tag, one value rule", dups)}
	default:
		r.Checkers[CheckTags] = CheckerResult{Valid, fmt.Sprintf("every tag of %d tagged operations names one value", tagged)}
	}
}
