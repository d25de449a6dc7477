package checker

import (
	"fmt"
	"math"
	"sort"

	"github.com/ares-torture/torture/history"
)

// CheckFiles is the check of whole-file reads of fragmented files.
const CheckFiles = "files"

// Fragmented files (CoARESF). Each block is a coverable object, checked
// with the other keys; this check is about whole files. A file write
// links its new blocks in with one coverable write (the commit), so a read
// that overlaps at most one write sees the file before or after it; a read
// overlapping several writes may see a mix (a file read is not a
// snapshot, ARES-SPEC §7) and is not judged. Exactly: an ok read-file must
// return the content of
//   - a write it overlaps (ok, or indeterminate: unknown outcomes may
//     take effect at any time after their invoke), or
//   - a write that was not yet superseded when the read began (an ok
//     write w is superseded once another ok write invoked after w
//     completed has completed), or the empty file if no ok write had
//     completed,
//
// and is not judged when it overlaps two writes or more, or begins after
// a write invoked after an indeterminate one (the late commit of the
// indeterminate write can land between the other write's blocks).

// markFiles sets the whole-file operations apart: they count as reads and
// writes in the statistics and the floor, and only checkFiles judges
// them.
func (h *prepared) markFiles() {
	files := map[string]bool{}
	for i := range h.ops {
		o := &h.ops[i]
		switch o.f {
		case history.FReadFile:
			o.orig, o.f, o.file = o.f, history.FRead, true
		case history.FWriteFile:
			o.orig, o.f, o.file = o.f, history.FWrite, true
		default:
			continue
		}
		files[o.key] = true
	}
	if len(files) == 0 {
		return
	}
	keys := h.keys[:0]
	for _, k := range h.keys {
		if !files[k] {
			keys = append(keys, k)
		}
	}
	h.keys = keys
	h.files = sortedKeys(files)
}

// checkFiles judges every whole-file read (see above).
func (r *Result) checkFiles(h *prepared) {
	if len(h.files) == 0 {
		return
	}
	byFile := map[string][]*clientOp{}
	for i := range h.ops {
		if o := &h.ops[i]; o.file {
			byFile[o.key] = append(byFile[o.key], o)
		}
	}
	var bad []string
	judged, skipped := 0, 0
	for _, f := range h.files {
		j, s, anomalies := checkFile(f, byFile[f])
		judged += j
		skipped += s
		for _, a := range anomalies {
			r.Anomalies = append(r.Anomalies, a)
			bad = append(bad, quoteKey(f))
		}
	}
	detail := fmt.Sprintf("%d whole-file reads of %d files judged, %d overlapped several writes (not a snapshot)", judged, len(h.files), skipped)
	if len(bad) > 0 {
		r.Checkers[CheckFiles] = CheckerResult{Invalid, fmt.Sprintf("%d reads returned a file no write produced (%s); %s", len(bad), listShort(uniqStrings(bad)), detail)}
		return
	}
	if judged == 0 && skipped > 0 {
		r.Checkers[CheckFiles] = CheckerResult{Unknown, "no whole-file read could be judged: " + detail}
		return
	}
	r.Checkers[CheckFiles] = CheckerResult{Valid, detail}
}

// checkFile judges the reads of one file.
func checkFile(file string, ops []*clientOp) (judged, skipped int, anomalies []Anomaly) {
	var writes []*clientOp
	firstInfo := int64(math.MaxInt64) // invoke of the first indeterminate write
	for _, o := range ops {
		if o.f != history.FWrite || o.typ == history.Fail {
			continue
		}
		writes = append(writes, o)
		if o.typ != history.Ok {
			firstInfo = min(firstInfo, o.call)
		}
	}
	// afterInfo is the invoke of the first write after an indeterminate
	// one: from then on the file may hold a mix.
	afterInfo := int64(math.MaxInt64)
	for _, w := range writes {
		if w.call > firstInfo {
			afterInfo = min(afterInfo, w.call)
		}
	}
	end := func(w *clientOp) int64 {
		if w.typ == history.Ok {
			return w.ret
		}
		return math.MaxInt64
	}
	for _, rd := range ops {
		if rd.f != history.FRead || rd.typ != history.Ok {
			continue
		}
		if rd.call >= afterInfo {
			skipped++
			continue
		}
		var overlap []*clientOp
		for _, w := range writes {
			if w.call <= rd.ret && end(w) >= rd.call {
				overlap = append(overlap, w)
			}
		}
		if len(overlap) > 1 {
			skipped++
			continue
		}
		judged++
		allowed := map[string]bool{}
		for _, w := range overlap {
			allowed[w.value] = true
		}
		// The writes completed before the read began, not superseded.
		var done []*clientOp
		for _, w := range writes {
			if w.typ == history.Ok && w.ret < rd.call {
				done = append(done, w)
			}
		}
		if len(done) == 0 {
			allowed[""] = true
		}
		for _, w := range done {
			superseded := false
			for _, x := range done {
				if x.call > w.ret {
					superseded = true
					break
				}
			}
			if !superseded {
				allowed[w.value] = true
			}
		}
		if allowed[rd.value] {
			continue
		}
		var cands []string
		for v := range allowed {
			cands = append(cands, fmt.Sprintf("%q", v))
		}
		sort.Strings(cands)
		anomalies = append(anomalies, Anomaly{
			Checker: CheckFiles,
			Key:     file,
			Description: fmt.Sprintf("read of file %s (line %d) returned content %q, which no write it could see produced (it could see %s)",
				file, rd.line, rd.value, listShort(cands)),
			Op: rd.ref(),
		})
	}
	return judged, skipped, anomalies
}

func uniqStrings(xs []string) []string {
	seen := map[string]bool{}
	out := xs[:0]
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
