package checker

import (
	"fmt"

	"github.com/ares-torture/torture/history"
)

// maxLostListed caps the lost writes listed per anomaly in results.json.
const maxLostListed = 20

// checkDurability looks for acknowledged writes that a key's final read
// does not reflect. Linearizability implies it; it is reported on its own
// because a lost acknowledged write is the failure users fear most, and
// because it is cheap and sound even when the linearizability check runs
// out of time.
//
// Definition. The final read of a key is its ok read invoked last (the
// harness reads every key once more after healing). Let S be the writes
// that read could have observed: the ok, info or pending writes of its
// value, or the initial state if it returned "". An ok write w of the key
// is lost when it completed before the final read was invoked and every
// member of S is known to precede w in real time (the initial state, or an
// ok write that completed before w was invoked): then every linearization
// orders S before w before the read, and the read should have returned w
// or something newer. An indeterminate write in S is never known to
// precede anything, so it excuses the read. A final read whose value no
// ok or indeterminate write wrote is reported too (a corrupted value).
//
// A key with acknowledged writes and no ok read invoked after both the
// last fault was healed and its last acknowledged write completed is not
// verified: nothing says its writes survived the
// faults, so the run cannot be valid (the harness's final read of it
// failed, or the history has none).
func (r *Result) checkDurability(h *prepared) {
	byKey := h.byKey()
	healed := int64(-1) // when the last fault ended
	for _, iv := range h.nemesis {
		healed = max(healed, iv.End)
	}
	lost, corrupt := 0, 0
	for _, k := range h.keys {
		ops := byKey[k]
		var final *clientOp
		okWrites, lateReads := 0, 0
		lastAck := int64(-1) // when the key's last acknowledged write completed
		for _, o := range ops {
			if (o.f == history.FWrite || o.f == history.FCAS) && o.typ == history.Ok {
				okWrites++
				lastAck = max(lastAck, o.ret)
			}
		}
		for _, o := range ops {
			if o.f == history.FRead && o.typ == history.Ok {
				if o.call >= healed && o.call > lastAck {
					lateReads++
				}
				if final == nil || o.call > final.call || (o.call == final.call && o.ret > final.ret) {
					final = o
				}
			}
		}
		if okWrites > 0 && lateReads == 0 {
			r.Durability.KeysUnverified++
			r.Durability.Unverified = append(r.Durability.Unverified, k)
		}
		if final == nil {
			continue
		}
		r.Durability.KeysChecked++

		// The observed candidates; initial is true when "" may be the
		// initial state.
		initial := final.value == ""
		var cands []*clientOp
		for _, o := range ops {
			if (o.f == history.FWrite || o.f == history.FCAS) && o.typ != history.Fail && o.value == final.value {
				cands = append(cands, o)
			}
		}
		if len(cands) == 0 && !initial {
			corrupt++
			r.Anomalies = append(r.Anomalies, Anomaly{
				Checker: CheckDurability, Key: k, Op: final.ref(),
				Description: fmt.Sprintf("final read returned %q, which no ok or indeterminate write of this key wrote",
					short(final.value)),
			})
			continue
		}
		var lw []OpRef
		for _, w := range ops {
			if w.f != history.FWrite && w.f != history.FCAS || w.typ != history.Ok || w.ret >= final.call {
				continue
			}
			older := true // every candidate precedes w
			for _, c := range cands {
				if c.typ != history.Ok || c.ret >= w.call {
					older = false
					break
				}
			}
			if older {
				lw = append(lw, *w.ref())
			}
		}
		if len(lw) == 0 {
			continue
		}
		lost += len(lw)
		what := "the initial value"
		if !initial {
			what = fmt.Sprintf("%q", short(final.value))
		}
		a := Anomaly{
			Checker: CheckDurability, Key: k, Op: final.ref(),
			Description: fmt.Sprintf("%d acknowledged writes lost: the final read returned %s, older than each of them",
				len(lw), what),
		}
		if len(lw) > maxLostListed {
			a.Note = fmt.Sprintf("only the first %d of %d lost writes are listed", maxLostListed, len(lw))
			lw = lw[:maxLostListed]
		}
		a.Lost = lw
		r.Anomalies = append(r.Anomalies, a)
	}
	r.Durability.LostWrites = lost
	unverified := ""
	if n := len(r.Durability.Unverified); n > 0 {
		unverified = "not verified: " + listShort(r.Durability.Unverified) +
			fmt.Sprintf(" (%d keys with acknowledged writes and no ok read after the faults were healed)", n)
	}
	switch {
	case lost > 0 || corrupt > 0:
		if unverified != "" {
			unverified = "; " + unverified
		}
		r.Checkers[CheckDurability] = CheckerResult{Invalid, fmt.Sprintf(
			"%d acknowledged writes lost, %d final reads of unwritten values%s", lost, corrupt, unverified)}
	case unverified != "":
		r.Checkers[CheckDurability] = CheckerResult{Unknown, unverified}
	default:
		r.Checkers[CheckDurability] = CheckerResult{Valid, fmt.Sprintf(
			"no acknowledged write lost on %d keys", r.Durability.KeysChecked)}
	}
}
