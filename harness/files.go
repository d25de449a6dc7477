package harness

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/fragment"
	"github.com/ares-torture/torture/history"
	"github.com/ares-torture/torture/workloads"
)

// The file workload (CoARESF). Every file has one writer, client
// i mod clients for file i, which keeps the content it last wrote and
// edits it at a random offset; every client reads whole files. One writer
// per file keeps the whole-file check exact (checker/files.go): a second
// concurrent writer would make files that are the merge of two edits,
// which no write produced. An edit of unknown outcome may still commit
// later, in the middle of the writer's next edit, so the writer then moves
// on to a new generation of the file (f<i>.<gen>) and the old one is only
// read. Whole-file operations go to the history as read-file and
// write-file with a digest of the content; each block read and coverable
// write they make goes there too, as the process Process+BlockProcess, so
// every block is checked as a coverable register.

// fileState is what the clients of a file workload share.
type fileState struct {
	size int
	frag fragment.Options
	gens []atomic.Int64 // the current generation of each file

	mu     sync.Mutex
	blocks map[string]bool // every block key a write was invoked on
}

func newFileState(files, size int, bug ares.Bug) *fileState {
	// About 16 blocks per file, within what a message carries.
	avg := min(max(size/16, 16<<10), 1<<20)
	return &fileState{
		size:   size,
		frag:   fragment.Options{Min: avg / 4, Average: avg, Max: avg * 4, Bug: bug},
		gens:   make([]atomic.Int64, files),
		blocks: map[string]bool{},
	}
}

// fileKey is the key of generation gen of file i.
func fileKey(i int, gen int64) string { return fmt.Sprintf("f%d.%d", i, gen) }

// digest names a content in the history: "" for the empty content (a
// never-written key or an empty file).
func digest(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// blockObjects records each block operation of a file operation.
type blockObjects struct {
	r     *runner
	c     Client
	proc  int // the file operation's process
	final bool
	// seen maps a block key and version to the digest of its value, for
	// the bases of coverable writes: a file write reads every block it
	// relinks first.
	seen map[string]map[ares.Tag]string
	read map[string]bool // keys read ok (for the final reads)
}

func (b *blockObjects) note(key string, tag ares.Tag, d string) {
	m := b.seen[key]
	if m == nil {
		m = map[ares.Tag]string{}
		b.seen[key] = m
	}
	m[tag] = d
}

// ReadInfo implements fragment.Objects.
func (b *blockObjects) ReadInfo(ctx context.Context, key string) ([]byte, ares.OpInfo, error) {
	inv := history.Op{Type: history.Invoke, Process: b.proc + history.BlockProcess, F: history.FRead, Key: key, Final: b.final}
	b.r.rec.Append(inv)
	v, info, err := b.c.Read(ctx, key)
	done := inv
	switch {
	case err == nil:
		done.Type, done.Value = history.Ok, digest(v)
		SetOpInfo(&done, info)
		b.note(key, info.Tag, done.Value)
		if b.read != nil {
			b.read[key] = true
		}
	case errors.Is(err, ErrCrashed):
		done.Type, done.Error = history.Info, errText(ctx, err)
	default:
		done.Type, done.Error = history.Fail, errText(ctx, err)
	}
	b.r.rec.Append(done)
	return v, info, err
}

// CoverWrite implements fragment.Objects.
func (b *blockObjects) CoverWrite(ctx context.Context, key string, base ares.Tag, value []byte) (ares.CoverResult, error) {
	bv, ok := b.seen[key][base]
	if !ok && !base.IsZero() {
		// Every relinked block was read first; a base never seen would
		// make the history claim a base value it does not know.
		return ares.CoverResult{}, fmt.Errorf("file workload: cover of %s from version %s it never read", key, base)
	}
	b.r.files.mu.Lock()
	b.r.files.blocks[key] = true
	b.r.files.mu.Unlock()
	inv := history.Op{Type: history.Invoke, Process: b.proc + history.BlockProcess, F: history.FCover, Key: key,
		Value: digest(value), Base: &history.Tag{TS: base.TS, WID: base.WID}, BaseValue: bv}
	b.r.rec.Append(inv)
	res, err := b.c.CoverWrite(ctx, key, base, value)
	done := inv
	done.Base, done.BaseValue = nil, ""
	switch {
	case err == nil && res.Covered:
		done.Type, done.Value, done.Covered = history.Ok, digest(res.Value), true
		SetOpInfo(&done, res.OpInfo)
		b.note(key, res.Tag, done.Value)
	case err == nil:
		done.Type = history.Ok
		SetOpInfo(&done, res.OpInfo)
		b.note(key, res.Tag, done.Value)
	default:
		done.Type, done.Error = history.Info, errText(ctx, err)
	}
	b.r.rec.Append(done)
	return res, err
}

// fileClient is one client of the file workload: its files' contents as
// it last wrote them, and its random source for edits and block ids.
type fileClient struct {
	i       int
	rng     *rand.Rand
	content map[int][]byte // file -> content of the current generation
	objs    *blockObjects
}

func (r *runner) newFileClient(i int, c Client) *fileClient {
	rng := rand.New(rand.NewPCG(uint64(r.opts.Seed), uint64(i)+1<<32))
	return &fileClient{i: i, rng: rng, content: map[int][]byte{},
		objs: &blockObjects{r: r, c: c, seen: map[string]map[ares.Tag]string{}}}
}

// Read implements io.Reader: block ids and new content from the client's
// seeded source, eight bytes a draw (a 64 MiB first content is 8M draws).
func (fc *fileClient) Read(p []byte) (int, error) {
	var w [8]byte
	for i := 0; i < len(p); i += 8 {
		binary.LittleEndian.PutUint64(w[:], fc.rng.Uint64())
		copy(p[i:], w[:])
	}
	return len(p), nil
}

// fileOp runs one whole-file operation of client fc as process proc and
// returns its completion type.
func (r *runner) fileOp(ctx context.Context, fc *fileClient, proc int, op workloads.Op) history.Type {
	fs := r.files
	clients := r.opts.Clients
	file := op.File
	if op.F == history.FWriteFile && file%clients != fc.i {
		// Only a file's own writer edits it; another client's edit reads.
		var mine []int
		for f := fc.i; f < len(fs.gens); f += clients {
			mine = append(mine, f)
		}
		if len(mine) == 0 {
			op.F = history.FReadFile
		} else {
			file = mine[fc.rng.IntN(len(mine))]
		}
	}
	gen := fs.gens[file].Load()
	key := fileKey(file, gen)
	fc.objs.proc = proc
	fopts := fs.frag
	fopts.Rand = fc
	octx, cancel := context.WithTimeout(ctx, r.opts.OpTimeout.D())
	defer cancel()
	if op.F == history.FReadFile {
		inv := history.Op{Type: history.Invoke, Process: proc, F: history.FReadFile, Key: key}
		r.rec.Append(inv)
		got, _, err := fragment.Get(octx, fc.objs, key, fopts)
		done := inv
		switch {
		case err == nil:
			done.Type, done.Value = history.Ok, digest(got)
		case errors.Is(err, ErrCrashed):
			done.Type, done.Error = history.Info, errText(ctx, err)
		default:
			done.Type, done.Error = history.Fail, errText(ctx, err)
		}
		r.rec.Append(done)
		return done.Type
	}
	next := fc.edit(fc.content[file], fs.size)
	inv := history.Op{Type: history.Invoke, Process: proc, F: history.FWriteFile, Key: key, Value: digest(next)}
	r.rec.Append(inv)
	_, err := fragment.Put(octx, fc.objs, key, next, fopts)
	done := inv
	switch {
	case err == nil:
		done.Type = history.Ok
		fc.content[file] = next
	case errors.Is(err, fragment.ErrCovered):
		// The commit was covered: nothing of this write is reachable.
		done.Type, done.Error = history.Fail, err.Error()
	default:
		done.Type, done.Error = history.Info, errText(ctx, err)
		// It may still commit later: the next edit goes to a new
		// generation, and this one is only read from now on.
		fs.gens[file].Store(gen + 1)
		delete(fc.content, file)
	}
	r.rec.Append(done)
	return done.Type
}

// edit returns the next content of a file: a first content of size
// bytes, then one edit at a random offset (a replacement, insertion or
// deletion of 1 to 64 bytes).
func (fc *fileClient) edit(cur []byte, size int) []byte {
	if len(cur) == 0 {
		out := make([]byte, size)
		fc.Read(out)
		return out
	}
	n := 1 + fc.rng.IntN(64)
	at := fc.rng.IntN(len(cur))
	fresh := make([]byte, n)
	fc.Read(fresh)
	out := make([]byte, 0, len(cur)+n)
	switch kind := fc.rng.IntN(3); {
	case kind == 0 || len(cur) < 2*n: // replace
		out = append(append(append(out, cur[:at]...), fresh...), cur[min(at+n, len(cur)):]...)
	case kind == 1: // insert
		out = append(append(append(out, cur[:at]...), fresh...), cur[at:]...)
	default: // delete
		out = append(append(out, cur[:at]...), cur[min(at+n, len(cur)):]...)
	}
	return out
}

// finalFileReads reads every generation of every file once more, whole,
// and then every block key written that those reads did not reach, as
// final reads of one process of its own, so that the durability check
// sees every block read after the faults.
func (r *runner) finalFileReads(ctx context.Context, control Client) {
	fs := r.files
	proc := int(r.maxProc.Load()) + 1
	objs := &blockObjects{r: r, c: control, proc: proc, final: true, seen: map[string]map[ares.Tag]string{}, read: map[string]bool{}}
	timeout := max(5*r.opts.OpTimeout.D(), 30e9)
	fopts := fs.frag
	for i := range fs.gens {
		for g := int64(0); g <= fs.gens[i].Load(); g++ {
			key := fileKey(i, g)
			for try := 0; try < 3 && ctx.Err() == nil; try++ {
				inv := history.Op{Type: history.Invoke, Process: proc, F: history.FReadFile, Key: key, Final: true}
				r.rec.Append(inv)
				octx, cancel := context.WithTimeout(ctx, timeout)
				got, _, err := fragment.Get(octx, objs, key, fopts)
				cancel()
				done := inv
				if err == nil {
					done.Type, done.Value = history.Ok, digest(got)
					r.rec.Append(done)
					break
				}
				r.log.Warn("final file read failed", "file", key, "try", try+1, "err", err)
				done.Type, done.Error = history.Fail, errText(ctx, err)
				r.rec.Append(done)
			}
		}
	}
	fs.mu.Lock()
	var rest []string
	for k := range fs.blocks {
		if !objs.read[k] {
			rest = append(rest, k)
		}
	}
	fs.mu.Unlock()
	sort.Strings(rest)
	for _, key := range rest {
		for try := 0; try < 3 && ctx.Err() == nil; try++ {
			octx, cancel := context.WithTimeout(ctx, max(5e9, 2*r.opts.OpTimeout.D()))
			_, _, err := objs.ReadInfo(octx, key)
			cancel()
			if err == nil {
				break
			}
		}
	}
}
