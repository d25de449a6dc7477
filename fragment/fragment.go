// Package fragment stores files as fragmented objects (CoARESF,
// ARES-SPEC §7): a file is a linked list of blocks, each an independent
// coverable ARES object holding ⟨data, next⟩.
//
// The head block's key is the file's key; it holds no data, only the key
// of the first block. Every other block's key is the file key, "/", and a
// random id, so a block is written once under a key nobody else uses and
// is never changed afterwards except to relink it. Block boundaries come
// from content-defined chunking (Rabin fingerprints), so an edit in the
// middle of a file moves the boundaries near it only, and a write stores
// only the blocks whose data changed.
//
// A write is copy-on-write with one commit point: the new blocks are
// written first, under fresh keys, linked to the old blocks that follow
// the change; then one coverable write of the block before the change
// links them in. A reader that reads that predecessor before the commit
// follows the old blocks, which no write changes, and one that reads it
// after follows the new ones, which are all written by then: a file read
// overlapping one write sees either the old or the new file. Reads of
// files under several concurrent writes are not snapshots (the spec says
// as much): each block is coverable-linearizable, the file as a whole is
// not.
package fragment

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/restic/chunker"
)

// Objects is the storage a file lives in: coverable objects by key.
// *ares.Client satisfies it.
type Objects interface {
	// ReadInfo reads key; a never-written key reads as a nil value with
	// the zero tag.
	ReadInfo(ctx context.Context, key string) ([]byte, ares.OpInfo, error)
	// CoverWrite writes value under key if base is still its latest
	// version, else reports the latest version as covered.
	CoverWrite(ctx context.Context, key string, base ares.Tag, value []byte) (ares.CoverResult, error)
}

var _ Objects = (*ares.Client)(nil)

// ErrCovered is returned (wrapped) by Put when the block it had to relink
// changed since Put read it: another write changed the file at the same
// place concurrently. Nothing of this Put is reachable; the blocks it
// wrote are garbage.
var ErrCovered = errors.New("file changed concurrently (commit covered)")

// ErrCorrupt is returned (wrapped) for a block value that is not a block,
// a link that leaves the file, a cycle, or a list over Options.MaxBlocks.
var ErrCorrupt = errors.New("corrupt file")

// Polynomial is the irreducible polynomial of the Rabin fingerprints.
// It is fixed, not random per client as in restic, so that every client
// cuts the same content at the same places and finds the blocks it can
// keep.
const Polynomial = chunker.Pol(0x3DA3358B4DC173)

// Default block boundaries.
const (
	DefaultMin       = 64 << 10
	DefaultAverage   = 256 << 10
	DefaultMax       = 1 << 20
	DefaultMaxBlocks = 1 << 20
)

// Options configure Put and Get. The zero value is the defaults.
type Options struct {
	// Min, Average and Max bound the block sizes in bytes (defaults
	// DefaultMin, DefaultAverage, DefaultMax). A boundary is never cut
	// before Min bytes nor after Max; in between, the fingerprint test
	// fires with probability 1/2^b per byte, 2^b the power of two nearest
	// Average-Min, so blocks average about Average when Max is well above
	// it. Writers with different boundaries still read each other's files
	// but keep fewer of each other's blocks.
	Min, Average, Max int
	// MaxBlocks bounds the blocks a traversal follows, so that a corrupt
	// list cannot make a read run for ever (default DefaultMaxBlocks).
	MaxBlocks int
	// Rand is the source of block ids. Nil is crypto/rand; a seeded source
	// makes a run under the deterministic simulator repeatable.
	Rand io.Reader
	// Bug, when ares.BugLinkFirst, makes Put link the predecessor to its
	// new blocks before writing them, so that a reader in between follows
	// a link to a block not yet written and sees a truncated file.
	Bug ares.Bug
}

// LinkFirstPause is how long a Put with ares.BugLinkFirst leaves its
// predecessor linked to blocks not yet written.
const LinkFirstPause = 50 * time.Millisecond

// Validate checks the block boundaries, the defaults filled in.
func (o Options) Validate() error {
	_, err := o.withDefaults()
	return err
}

func (o Options) withDefaults() (Options, error) {
	if o.Min == 0 {
		o.Min = DefaultMin
	}
	if o.Average == 0 {
		o.Average = DefaultAverage
	}
	if o.Max == 0 {
		o.Max = DefaultMax
	}
	if o.MaxBlocks <= 0 {
		o.MaxBlocks = DefaultMaxBlocks
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	// The chunker hashes a 64-byte window and starts it at Min-64.
	if o.Min < 64 || o.Average <= o.Min || o.Max < o.Average {
		return o, fmt.Errorf("fragment: block sizes min %d, average %d, max %d: want 64 <= min < average <= max", o.Min, o.Average, o.Max)
	}
	return o, nil
}

// averageBits is b of the fingerprint test: 2^b nearest Average-Min,
// since a cut can only come after Min and then comes after a geometric
// number of bytes of mean 2^b.
func (o Options) averageBits() int {
	d := uint64(o.Average - o.Min)
	b := bits.Len64(d) - 1 // 2^b <= d < 2^(b+1)
	if b < 62 && d-1<<b > 1<<(b+1)-d {
		b++
	}
	return max(b, 1)
}

// block is one node of a file's list as a traversal found it.
type block struct {
	key  string
	tag  ares.Tag // the version read: the base of a relink
	data []byte
	next string
}

// The block encoding: a version byte, uvarint len(next), next, data.
// The version byte is a magic number too: a value some other client put
// under a file's key (a plain ares put) fails to decode instead of being
// read as a block.
const blockV1 = 0xB1

// encodeBlock encodes ⟨data, next⟩.
func encodeBlock(data []byte, next string) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(next)+len(data))
	b = append(b, blockV1)
	b = binary.AppendUvarint(b, uint64(len(next)))
	b = append(b, next...)
	return append(b, data...)
}

// decodeBlock decodes a block value; the empty value (a never-written
// object) is the empty block with no next.
func decodeBlock(v []byte) (data []byte, next string, err error) {
	if len(v) == 0 {
		return nil, "", nil
	}
	if v[0] != blockV1 {
		return nil, "", fmt.Errorf("%w: block version byte %#x, want %#x", ErrCorrupt, v[0], blockV1)
	}
	n, k := binary.Uvarint(v[1:])
	if k <= 0 {
		return nil, "", fmt.Errorf("%w: bad next length", ErrCorrupt)
	}
	rest := v[1+k:]
	if n > uint64(len(rest)) {
		return nil, "", fmt.Errorf("%w: next of %d bytes in %d", ErrCorrupt, n, len(rest))
	}
	return rest[n:], string(rest[:n]), nil
}

// traverse reads the list of key: the head first (list[0], no data),
// then each block in order. A link to a block never written reads as an
// empty last block (only a Put with BugLinkFirst leaves such links).
func traverse(ctx context.Context, objs Objects, key string, o Options) (list []block, missing int, err error) {
	seen := map[string]bool{}
	for k := key; ; {
		if len(list) > o.MaxBlocks {
			return nil, 0, fmt.Errorf("%w: %q has over %d blocks", ErrCorrupt, key, o.MaxBlocks)
		}
		v, info, err := objs.ReadInfo(ctx, k)
		if err != nil {
			return nil, 0, fmt.Errorf("read block %q: %w", k, err)
		}
		data, next, err := decodeBlock(v)
		if err != nil {
			return nil, 0, fmt.Errorf("block %q: %w", k, err)
		}
		if len(list) > 0 && info.Tag == (ares.Tag{}) {
			missing++
		}
		seen[k] = true
		list = append(list, block{key: k, tag: info.Tag, data: data, next: next})
		if next == "" {
			return list, missing, nil
		}
		// A link outside the file's key space would make one file read
		// (and a Put relink) another file's blocks.
		if len(next) <= len(key)+1 || next[:len(key)+1] != key+"/" {
			return nil, 0, fmt.Errorf("%w: block %q links to %q, outside %q", ErrCorrupt, k, next, key)
		}
		if seen[next] {
			return nil, 0, fmt.Errorf("%w: cycle at block %q", ErrCorrupt, next)
		}
		k = next
	}
}

// GetStats describe a Get.
type GetStats struct {
	// Blocks is the number of data blocks read (the head not counted).
	Blocks int
	// Bytes is the file's size.
	Bytes int
	// Missing counts links to blocks never written (read as empty): a
	// correct Put never leaves one; Put with BugLinkFirst does.
	Missing int
}

// Get reads the file key: the concatenation of its blocks' data. A file
// never written is empty.
func Get(ctx context.Context, objs Objects, key string, opts Options) ([]byte, GetStats, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, GetStats{}, err
	}
	list, missing, err := traverse(ctx, objs, key, o)
	if err != nil {
		return nil, GetStats{}, fmt.Errorf("get %q: %w", key, err)
	}
	n := 0
	for _, b := range list {
		n += len(b.data)
	}
	out := make([]byte, 0, n)
	for _, b := range list {
		out = append(out, b.data...)
	}
	return out, GetStats{Blocks: len(list) - 1, Bytes: n, Missing: missing}, nil
}

// Chunks cuts content into blocks as Put does (nil for empty content).
func Chunks(content []byte, opts Options) ([][]byte, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return chunks(content, o)
}

func chunks(content []byte, o Options) ([][]byte, error) {
	c := chunker.NewWithBoundaries(bytes.NewReader(content), Polynomial, uint(o.Min), uint(o.Max))
	c.SetAverageBits(o.averageBits())
	buf := make([]byte, 0, o.Max)
	var out [][]byte
	for {
		ch, err := c.Next(buf)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		// Slices of content, not the chunker's copy: no second copy of
		// the file.
		out = append(out, content[ch.Start:ch.Start+ch.Length:ch.Start+ch.Length])
	}
}

// PutStats describe a Put.
type PutStats struct {
	// BlocksWritten is the number of new blocks written (the relink of
	// the block before them not counted).
	BlocksWritten int
	// BlocksUnchanged is the number of the old file's blocks the new file
	// keeps, the relinked one included (its data is unchanged).
	BlocksUnchanged int
	// BytesWritten is the size of all the encoded values handed to
	// CoverWrite, the relink included (it carries the predecessor's data
	// again).
	BytesWritten int
	// Blocks is the number of blocks of the new file (the head not
	// counted): BlocksWritten + BlocksUnchanged.
	Blocks int
	// Covered says the commit was covered (the error wraps ErrCovered).
	Covered bool
}

// Put writes content as the file key. It reads the current list, keeps
// the longest unchanged prefix and suffix of blocks, writes the blocks in
// between under fresh keys, back to front, and then commits by relinking
// the block before them (or the head) with a coverable write based on the
// version it read. If that block changed meanwhile, the commit is covered
// and Put returns an error wrapping ErrCovered; the file is then whatever
// the other write made it.
//
// Only the relinked block's version is checked: two Puts that change
// different places of a file can both commit (both changes stay if the
// later one's predecessor is still in the list, else the later one is
// lost with its predecessor); and since a coverable write is not
// compare-and-set, two Puts committing on the same block concurrently can
// even both succeed (ares/cover.go). A Put that changes nothing writes
// nothing.
func Put(ctx context.Context, objs Objects, key string, content []byte, opts Options) (PutStats, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return PutStats{}, err
	}
	if key == "" {
		return PutStats{}, errors.New("put: empty file key")
	}
	// 1. The current list; old[0] is the head.
	list, _, err := traverse(ctx, objs, key, o)
	if err != nil {
		return PutStats{}, fmt.Errorf("put %q: %w", key, err)
	}
	old := list[1:]
	// 2.
	chunks, err := chunks(content, o)
	if err != nil {
		return PutStats{}, fmt.Errorf("put %q: chunk: %w", key, err)
	}
	// 3. Common prefix p and suffix s, not overlapping in either list.
	p := 0
	for p < len(old) && p < len(chunks) && bytes.Equal(old[p].data, chunks[p]) {
		p++
	}
	s := 0
	for s < len(old)-p && s < len(chunks)-p && bytes.Equal(old[len(old)-1-s].data, chunks[len(chunks)-1-s]) {
		s++
	}
	fresh := chunks[p : len(chunks)-s]
	st := PutStats{BlocksWritten: len(fresh), BlocksUnchanged: p + s, Blocks: len(chunks)}
	// 4. Nothing new and nothing dropped.
	if len(fresh) == 0 && p+s == len(old) {
		return st, nil
	}
	tail := "" // what the last new block links to: the kept suffix
	if s > 0 {
		tail = old[len(old)-s].key
	}
	keys := make([]string, len(fresh))
	for i := range keys {
		if keys[i], err = newKey(key, o.Rand); err != nil {
			return PutStats{}, fmt.Errorf("put %q: %w", key, err)
		}
	}
	first := tail
	if len(fresh) > 0 {
		first = keys[0]
	}
	pred := list[p] // the head when p == 0

	// 5. New blocks, back to front, so that each links to one written.
	writeBlocks := func() error {
		next := tail
		for i := len(fresh) - 1; i >= 0; i-- {
			v := encodeBlock(fresh[i], next)
			res, err := objs.CoverWrite(ctx, keys[i], ares.Tag{}, v)
			if err != nil {
				return fmt.Errorf("put %q: write block %q: %w", key, keys[i], err)
			}
			if res.Covered {
				// The key was fresh: someone else drew the same id.
				return fmt.Errorf("put %q: block key %q already written (id collision, version %s)", key, keys[i], res.Tag)
			}
			st.BytesWritten += len(v)
			next = keys[i]
		}
		return nil
	}
	// 6. The commit: the predecessor, same data, linked to the new blocks.
	commit := func() error {
		v := encodeBlock(pred.data, first)
		res, err := objs.CoverWrite(ctx, pred.key, pred.tag, v)
		if err != nil {
			return fmt.Errorf("put %q: commit at %q: %w", key, pred.key, err)
		}
		if res.Covered {
			st.Covered = true
			return fmt.Errorf("put %q: commit at %q based on %s, now %s: %w", key, pred.key, pred.tag, res.Tag, ErrCovered)
		}
		st.BytesWritten += len(v)
		return nil
	}
	steps := []func() error{writeBlocks, commit}
	if o.Bug == ares.BugLinkFirst {
		// The dangling link is held open for LinkFirstPause, as by a
		// writer slow to send its blocks: otherwise the window is one
		// block write, and a loaded machine found it in 0 of 10 runs.
		pause := func() error {
			select {
			case <-time.After(LinkFirstPause):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		steps = []func() error{commit, pause, writeBlocks}
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return st, err
		}
	}
	return st, nil
}

// newKey draws a block key: the file key, "/", 64 random bits in hex.
func newKey(file string, r io.Reader) (string, error) {
	var id [8]byte
	if _, err := io.ReadFull(r, id[:]); err != nil {
		return "", fmt.Errorf("block id: %w", err)
	}
	return file + "/" + hex.EncodeToString(id[:]), nil
}
