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
	type first struct {
		op    *clientOp
		value string
	}
	seen := map[string]map[history.Tag]first{} // key -> tag -> first op with it
	tagOf := map[string]map[string]*clientOp{} // key -> value -> first op with it
	tagged, dups := 0, 0
	for i := range h.ops {
		o := &h.ops[i]
		if o.typ != history.Ok || o.tag == nil {
			continue
		}
		tagged++
		m := seen[o.key]
		if m == nil {
			m = map[history.Tag]first{}
			seen[o.key] = m
		}
		t := *o.tag
		if t.IsZero() && o.value != "" {
			dups++
			r.Anomalies = append(r.Anomalies, Anomaly{Checker: CheckTags, Key: o.key, Op: o.ref(),
				Description: fmt.Sprintf("%s %s %q under the initial value's tag %s", o.f, o.key, short(o.value), t)})
			continue
		}
		byValue := tagOf[o.key]
		if byValue == nil {
			byValue = map[string]*clientOp{}
			tagOf[o.key] = byValue
		}
		if p, ok := byValue[o.value]; !ok {
			byValue[o.value] = o
		} else if *p.tag != t {
			dups++
			r.Anomalies = append(r.Anomalies, Anomaly{Checker: CheckTags, Key: o.key, Op: o.ref(),
				Description: fmt.Sprintf("one value under two tags: %s (line %d) has %s with %s, %s (line %d) with %s",
					p.f, p.line, strconv.Quote(short(o.value)), *p.tag, o.f, o.line, t)})
			continue
		}
		if o.value == "" && !t.IsZero() {
			dups++
			r.Anomalies = append(r.Anomalies, Anomaly{Checker: CheckTags, Key: o.key, Op: o.ref(),
				Description: fmt.Sprintf("%s %s returned the initial value under tag %s", o.f, o.key, t)})
			continue
		}
		f, ok := m[t]
		if !ok {
			m[t] = first{o, o.value}
			continue
		}
		if f.value == o.value {
			continue
		}
		dups++
		r.Anomalies = append(r.Anomalies, Anomaly{
			Checker: CheckTags, Key: o.key, Op: o.ref(),
			Description: fmt.Sprintf("two values under one tag %s: %s (line %d) has %s, %s (line %d) has %s",
				t, f.op.f, f.op.line, strconv.Quote(short(f.value)), o.f, o.line, strconv.Quote(short(o.value))),
			Note: "a tag must name one write: reads of this key depend on which servers answer first",
		})
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
