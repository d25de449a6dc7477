package harness

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/deadline"
	"github.com/ares-torture/torture/history"
	"github.com/ares-torture/torture/workloads"
)

// ClientName is the name of workload client i (its links, its log lines).
func ClientName(i int) string { return fmt.Sprintf("c%d", i) }

// client drives one workload client until soft ends. Process ids follow
// Jepsen: client i starts as process i and, after an indeterminate
// operation, continues as process i + k*clients.
func (r *runner) client(ctx, soft context.Context, i int, c Client, gen *workloads.Generator) {
	proc := i
	r.noteProc(proc)
	renew := false
	// seen is the version of each key this client last saw (the cover
	// workload's bases).
	seen := map[string]version{}
	var fc *fileClient
	if r.files != nil {
		fc = r.newFileClient(i, c)
	}
	quota := 0
	if n := r.opts.Ops; n > 0 {
		quota = n / r.opts.Clients
		if i < n%r.opts.Clients {
			quota++
		}
		if quota == 0 {
			return
		}
	}
	for ops := 0; !deadline.Passed(soft) && (quota == 0 || ops < quota); ops++ {
		if err := r.limiters[i].Wait(soft); err != nil {
			return
		}
		if renew {
			// The process that ended info is gone; its successor gets a
			// fresh ARES client (new writer id), as in Jepsen. If that
			// fails (an agent that stopped answering), this client stops:
			// its history is complete, only shorter, and the checker
			// judges what ran (too little is unknown, not valid). Going on
			// with the old client would break the new-process rule, and a
			// harness error would throw away a checkable history for what
			// is a lost client, a fault Jepsen expects.
			rctx, cancel := context.WithTimeout(soft, r.opts.OpTimeout.D())
			err := c.Renew(rctx)
			cancel()
			if err != nil {
				if soft.Err() == nil {
					r.log.Warn("client renewal failed; the client stops", "client", ClientName(i), "process", proc, "err", err)
				}
				return
			}
			renew = false
		}
		op := gen.Next()
		if fc != nil {
			if r.fileOp(ctx, fc, proc, op) == history.Info {
				proc += r.opts.Clients
				r.noteProc(proc)
				renew = true
			}
			continue
		}
		inv := history.Op{Type: history.Invoke, Process: proc, F: op.F, Key: op.Key, Value: op.Value}
		var payload []byte
		if op.F != history.FRead {
			payload = gen.Payload(op)
		}
		var base version
		if op.F == history.FCover {
			base = seen[op.Key]
			inv.Base, inv.BaseValue = &history.Tag{TS: base.tag.TS, WID: base.tag.WID}, base.value
		}
		r.rec.Append(inv)
		octx, cancel := context.WithTimeout(ctx, r.opts.OpTimeout.D())
		var (
			got  []byte
			info ares.OpInfo
			cr   ares.CoverResult
			err  error
		)
		switch op.F {
		case history.FWrite:
			info, err = c.Write(octx, op.Key, payload)
		case history.FCover:
			cr, err = c.CoverWrite(octx, op.Key, base.tag, payload)
			info, got = cr.OpInfo, cr.Value
		default:
			got, info, err = c.Read(octx, op.Key)
		}
		cancel()
		done := inv
		done.Base, done.BaseValue = nil, ""
		switch {
		case err == nil && (op.F == history.FRead || cr.Covered):
			done.Type, done.Value, done.Covered = history.Ok, ReadValue(got), cr.Covered
			SetOpInfo(&done, info)
			seen[op.Key] = version{info.Tag, done.Value}
		case err == nil:
			done.Type = history.Ok
			SetOpInfo(&done, info)
			seen[op.Key] = version{info.Tag, op.Value}
		case errors.Is(err, ErrCrashed):
			// The process crashed in the middle of the operation (the
			// crash fault): whatever it was, its outcome is unknown and
			// the process is gone.
			done.Type, done.Error = history.Info, errText(ctx, err)
		case op.F == history.FRead:
			// A read changes no register's value, so a failed read is
			// known not to have taken effect (Jepsen records these :fail):
			// the process continues.
			done.Type, done.Error = history.Fail, errText(ctx, err)
		default:
			// A write that timed out or lost its connection may take
			// effect later or never.
			done.Type, done.Error = history.Info, errText(ctx, err)
		}
		r.rec.Append(done)
		if done.Type == history.Info {
			proc += r.opts.Clients
			r.noteProc(proc)
			renew = true
		}
	}
}

// version is a key's version as a client saw it: its tag and the value id
// written with it.
type version struct {
	tag   ares.Tag
	value string
}

func errText(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return "interrupted: " + err.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout: " + err.Error()
	}
	return err.Error()
}

func (r *runner) noteProc(p int) {
	for {
		cur := r.maxProc.Load()
		if int64(p) <= cur || r.maxProc.CompareAndSwap(cur, int64(p)) {
			return
		}
	}
}

// finalReads reads every key once more through the control client, as
// the ops of one process of its own, so the checker can tell whether every
// acknowledged write survived.
func (r *runner) finalReads(ctx context.Context, control Client) {
	proc := int(r.maxProc.Load()) + 1
	timeout := max(5*time.Second, 2*r.opts.OpTimeout.D())
	for _, key := range r.wopts.KeyNames() {
		for try := 0; try < 3 && ctx.Err() == nil; try++ {
			r.rec.Append(history.Op{Type: history.Invoke, Process: proc, F: history.FRead, Key: key, Final: true})
			octx, cancel := context.WithTimeout(ctx, timeout)
			got, info, err := control.Read(octx, key)
			cancel()
			if err == nil {
				done := history.Op{Type: history.Ok, Process: proc, F: history.FRead, Key: key, Value: ReadValue(got), Final: true}
				SetOpInfo(&done, info)
				r.rec.Append(done)
				break
			}
			r.log.Warn("final read failed", "key", key, "try", try+1, "err", err)
			r.rec.Append(history.Op{Type: history.Fail, Process: proc, F: history.FRead, Key: key, Error: errText(ctx, err), Final: true})
		}
	}
}
