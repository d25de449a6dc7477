package checker

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/ares-torture/torture/history"
)

// The tag-order witness (../shared/reference/CHECKING.md, section 1): ARES
// orders operations by tag, writes by the tag they wrote and reads right
// after the write whose tag they returned. By Lynch's atomicity lemma
// (Distributed Algorithms, 13.16) that order is a linearization if it
// respects real time, the writes' tags are unique, and every read returns
// the value of the write with its tag. Checking it costs a sort.
//
// A failed witness proves only that the protocol's own order is wrong;
// another order may still exist, so the verdict is then left to an exact
// check, and the failure is kept to explain it in protocol terms.

// witnessResult is the outcome of the tag-order witness on one key.
type witnessResult struct {
	// applicable is false when some ok operation carries no tag: the
	// history is not ARES's, or predates tags.
	applicable bool
	// ok says the tag order is a linearization: the key is valid.
	ok bool
	// why is the first failed condition, in protocol terms.
	why string
	// ops are the operations it names.
	ops []*clientOp
	// n is how many operations the order holds (ok ones and observed
	// indeterminate writes).
	n int
}

// witnessOp is one operation placed in the tag order.
type witnessOp struct {
	o     *clientOp
	tag   history.Tag
	write bool
	call  int64
	ret   int64 // math.MaxInt64 for an indeterminate write
}

// tagWitness checks the tag order of one key's operations.
func tagWitness(ops []*clientOp) witnessResult {
	ws := make([]witnessOp, 0, len(ops))
	byTag := make(map[history.Tag]int, len(ops)/2) // tag -> index in ws of its write
	infoByValue := map[string]*clientOp{}
	failed := map[string]*clientOp{}
	reads := make([]*clientOp, 0, len(ops))
	for _, o := range ops {
		switch {
		case o.typ == history.Ok && o.tag == nil:
			if o.f == history.FRead || o.f == history.FWrite {
				return witnessResult{}
			}
		case o.f == history.FRead && o.typ == history.Ok:
			reads = append(reads, o)
		case o.f == history.FWrite && o.typ == history.Ok:
			if r := addWrite(&ws, byTag, o, *o.tag, o.ret); r != nil {
				return *r
			}
		case o.f == history.FWrite && o.typ == history.Fail:
			failed[o.value] = o
		case o.f == history.FWrite:
			// Info or pending: it matters only if a read saw it, and
			// then its tag is the one the read returned (unless its own
			// completion carried one).
			infoByValue[o.value] = o
		}
	}
	for _, r := range reads {
		t := *r.tag
		if t.IsZero() {
			if r.value != "" {
				return witnessResult{applicable: true, why: fmt.Sprintf(
					"%s with the initial value's tag", descOp(r)), ops: []*clientOp{r}}
			}
			continue
		}
		if _, ok := byTag[t]; ok {
			continue
		}
		if iw := infoByValue[r.value]; iw != nil {
			it := t
			if iw.tag != nil {
				it = *iw.tag
			}
			delete(infoByValue, r.value)
			if res := addWrite(&ws, byTag, iw, it, math.MaxInt64); res != nil {
				return *res
			}
		}
	}
	for _, r := range reads {
		t := *r.tag
		if t.IsZero() {
			ws = append(ws, witnessOp{o: r, tag: t, call: r.call, ret: r.ret})
			continue
		}
		i, ok := byTag[t]
		switch {
		case !ok && failed[r.value] != nil:
			return witnessResult{applicable: true, why: fmt.Sprintf("%s, but no write has that tag, and the write of %s failed (line %d)",
				descOp(r), strconv.Quote(short(r.value)), failed[r.value].line), ops: []*clientOp{r, failed[r.value]}}
		case !ok:
			return witnessResult{applicable: true, why: fmt.Sprintf("%s, but no write has that tag", descOp(r)), ops: []*clientOp{r}}
		case ws[i].o.value != r.value:
			return witnessResult{applicable: true, why: fmt.Sprintf("%s, but the write with that tag is %s",
				descOp(r), descOp(ws[i].o)), ops: []*clientOp{r, ws[i].o}}
		}
		ws = append(ws, witnessOp{o: r, tag: t, call: r.call, ret: r.ret})
	}
	// Real time: walking the order from the top down, no operation may
	// begin after one above it has completed. Reads of one tag are not
	// ordered among themselves, so they are compared only with the groups
	// above theirs; a write also with the reads of its own tag.
	slices.SortFunc(ws, func(a, b witnessOp) int {
		switch {
		case a.tag.TS != b.tag.TS:
			return cmp.Compare(a.tag.TS, b.tag.TS)
		case a.tag.WID != b.tag.WID:
			return strings.Compare(a.tag.WID, b.tag.WID)
		case a.write != b.write:
			if a.write {
				return -1
			}
			return 1
		}
		return 0
	})
	minRet, minOp := int64(math.MaxInt64), -1 // over the groups above
	for hi := len(ws); hi > 0; {
		lo := hi - 1
		for lo > 0 && ws[lo-1].tag == ws[hi-1].tag {
			lo--
		}
		gRet, gOp := minRet, minOp // the group's reads and what is above
		for i := hi - 1; i >= lo; i-- {
			o := &ws[i]
			if o.write {
				if gRet < o.call {
					return witnessFail(o, &ws[gOp])
				}
				continue
			}
			if minRet < o.call {
				return witnessFail(o, &ws[minOp])
			}
			if o.ret < gRet {
				gRet, gOp = o.ret, i
			}
		}
		for i := lo; i < hi; i++ {
			if ws[i].ret < gRet {
				gRet, gOp = ws[i].ret, i
			}
		}
		minRet, minOp = gRet, gOp
		hi = lo
	}
	return witnessResult{applicable: true, ok: true, n: len(ws)}
}

// addWrite puts a write into the order, or reports a tag it shares.
func addWrite(ws *[]witnessOp, byTag map[history.Tag]int, o *clientOp, t history.Tag, ret int64) *witnessResult {
	if t.IsZero() {
		return &witnessResult{applicable: true, why: fmt.Sprintf("%s has the initial value's tag", descOp(o)), ops: []*clientOp{o}}
	}
	if j, dup := byTag[t]; dup {
		p := (*ws)[j].o
		return &witnessResult{applicable: true, why: fmt.Sprintf("tag reuse: %s and %s have the same tag",
			descOp(p), descOp(o)), ops: []*clientOp{p, o}}
	}
	byTag[t] = len(*ws)
	*ws = append(*ws, witnessOp{o: o, tag: t, write: true, call: o.call, ret: ret})
	return nil
}

// witnessFail explains an operation b that the tag order puts below a,
// though a completed before b began.
func witnessFail(b, a *witnessOp) witnessResult {
	return witnessResult{applicable: true, why: fmt.Sprintf(
		"%s began at %s after %s had completed at %s: the tag order puts it first",
		descTagged(b), fmtNS(b.call), descTagged(a), fmtNS(a.ret)), ops: []*clientOp{b.o, a.o}}
}

// descTagged is descOp with the tag the order used (an indeterminate
// write's tag comes from the reads that saw it).
func descTagged(w *witnessOp) string {
	o := *w.o
	if o.tag == nil {
		t := w.tag
		o.tag = &t
	}
	return descOp(&o)
}

// descOp names an operation in protocol terms, e.g.
// read -> "v7" returned tag ⟨5,c2-ab⟩ in config 1 (line 12).
func descOp(o *clientOp) string {
	var s string
	if o.f == history.FRead {
		s = "read -> " + strconv.Quote(short(o.value))
		if o.tag != nil {
			s += " returned tag " + o.tag.String()
		}
		if o.config >= 0 {
			s += fmt.Sprintf(" in config %d", o.config)
		}
	} else {
		s = "write " + strconv.Quote(short(o.value))
		if o.tag != nil {
			s += " " + o.tag.String()
		}
		if o.config >= 0 {
			s += fmt.Sprintf(" (config %d)", o.config)
		}
		if o.typ != history.Ok {
			s += " (" + string(o.typ) + ")"
		}
	}
	return s + fmt.Sprintf(" (line %d)", o.line)
}
