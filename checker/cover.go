package checker

import "github.com/ares-torture/torture/history"

// Coverable registers (CoARES) are checked as registers. A coverable write
// w based on version b that took effect is, in the protocol, a get-data
// that observed b as the latest version followed by a put-data of w's new
// version, both within w's interval. The checker splits it the same way:
// the write of w's value, plus a derived read of b's value over w's whole
// interval. Written values are unique and a register's value never comes
// back, so the derived read can only be linearized before w's write, at a
// moment within w's interval when b was the latest version: exactly
// coverability's "a successful write's base was the latest version", and
// no stronger (two concurrent writes from one base may both succeed; that
// is not compare-and-set, which a register emulation cannot solve). A
// covered write changed nothing and returned the latest version: it is a
// read of that value, which must not be its own base (then it was not
// covered). A cover whose outcome is unknown is an indeterminate write
// (covered or not, it may have written its value or nothing).
//
// Compare-and-set operations (foreign histories, Jepsen's cas-register)
// keep their own function: the register model steps them (step), and a
// key with any of them is checked by Porcupine alone, since the exact
// fast checks and segment cuts assume unique written values.

// expandCover rewrites the history's cover operations as reads and writes
// and attaches each successful one's derived base read (see above). It
// runs once, after prepare paired the operations.
func (h *prepared) expandCover() {
	for i := range h.ops {
		o := &h.ops[i]
		if o.orig != history.FCover {
			continue
		}
		switch {
		case o.typ == history.Ok && o.covered:
			o.f, o.value = history.FRead, o.got
			if o.got == o.baseValue {
				o.selfCovered = true
			}
		case o.typ == history.Ok:
			o.f = history.FWrite
			base := &clientOp{line: o.line, process: o.process, f: history.FRead, key: o.key, value: o.baseValue,
				call: o.call, ret: o.ret, typ: history.Ok, tag: o.base, config: -1, orig: history.FCover, derived: true}
			o.baseRead = base
		default:
			o.f = history.FWrite
		}
	}
}

// linearOps groups the operations by key for the linearizability check,
// keeping invoke order, with each successful cover's derived base read
// right after it.
func (h *prepared) linearOps() map[string][]*clientOp {
	m := map[string][]*clientOp{}
	for i := range h.ops {
		o := &h.ops[i]
		if o.file {
			continue
		}
		m[o.key] = append(m[o.key], o)
		if o.baseRead != nil {
			m[o.key] = append(m[o.key], o.baseRead)
		}
	}
	return m
}

// needsModel reports whether a key's operations are outside what the fast
// checks decide: compare-and-set operations, or a covered write that
// returned its own base (only the model's step rejects it).
func needsModel(ops []*clientOp) bool {
	for _, o := range ops {
		if o.f == history.FCAS || o.selfCovered {
			return true
		}
	}
	return false
}
