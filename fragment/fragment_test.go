package fragment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/ares/memnet"
)

// cluster is three ABD servers on an in-memory network; client makes a
// client of it.
func cluster(t testing.TB) (client func(name string) *ares.Client) {
	net := memnet.New(1)
	cfg := &ares.Config{DAP: ares.ABD}
	for i := range 3 {
		id := fmt.Sprintf("s%d", i+1)
		s, err := ares.NewServer(ares.NewMemStorage(), ares.ServerOptions{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		net.AddServer(id, s)
		cfg.Servers = append(cfg.Servers, ares.Node{ID: id, Addr: fmt.Sprintf("mem:%d", i+1)})
	}
	return func(name string) *ares.Client {
		c, err := ares.NewClient(ares.ClientOptions{ID: name, Initial: cfg, Transport: net.Client(name), Retry: 40 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

// small are block boundaries that make files of a few KiB many blocks.
func small(seed uint64) Options {
	return Options{Min: 256, Average: 1 << 10, Max: 4 << 10, Rand: rand.NewChaCha8(seedBytes(seed))}
}

func seedBytes(seed uint64) (s [32]byte) {
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return s
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8(seedBytes(seed)).Read(b)
	return b
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func mustGet(t *testing.T, objs Objects, key string, o Options) ([]byte, GetStats) {
	t.Helper()
	got, st, err := Get(ctx(t), objs, key, o)
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	return got, st
}

func TestPolynomialIrreducible(t *testing.T) {
	if !Polynomial.Irreducible() || Polynomial.Deg() > 53 {
		t.Fatalf("polynomial %v: irreducible %v, degree %d", Polynomial, Polynomial.Irreducible(), Polynomial.Deg())
	}
}

func TestRoundTrip(t *testing.T) {
	c := cluster(t)("w")
	o := small(1)
	if got, st := mustGet(t, c, "never", o); len(got) != 0 || st.Blocks != 0 {
		t.Fatalf("never-written file: %d bytes, %+v", len(got), st)
	}
	for i, n := range []int{0, 1, 100, 255, 256, 4096, 50_000, 300_000, 7, 0} {
		content := randomBytes(uint64(i), n)
		for _, key := range []string{"same", fmt.Sprintf("f%d", i)} {
			ps, err := Put(ctx(t), c, key, content, o)
			if err != nil {
				t.Fatalf("put %d bytes to %q: %v", n, key, err)
			}
			got, gs := mustGet(t, c, key, o)
			if !bytes.Equal(got, content) {
				t.Fatalf("%q: wrote %d bytes, read %d different", key, n, len(got))
			}
			if gs.Blocks != ps.Blocks || gs.Bytes != n || gs.Missing != 0 {
				t.Fatalf("%q: put %+v, get %+v, %d bytes", key, ps, gs, n)
			}
		}
	}
}

// TestEC: the same over an EC configuration.
func TestEC(t *testing.T) {
	net := memnet.New(2)
	cfg := &ares.Config{DAP: ares.EC, K: 3}
	for i := range 5 {
		id := fmt.Sprintf("s%d", i+1)
		s, err := ares.NewServer(ares.NewMemStorage(), ares.ServerOptions{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		net.AddServer(id, s)
		cfg.Servers = append(cfg.Servers, ares.Node{ID: id, Addr: id})
	}
	c, err := ares.NewClient(ares.ClientOptions{ID: "w", Initial: cfg, Transport: net.Client("w")})
	if err != nil {
		t.Fatal(err)
	}
	o := small(2)
	for i, n := range []int{20_000, 0, 30_000} {
		content := randomBytes(uint64(i), n)
		if _, err := Put(ctx(t), c, "f", content, o); err != nil {
			t.Fatal(err)
		}
		if got, _ := mustGet(t, c, "f", o); !bytes.Equal(got, content) {
			t.Fatalf("EC: wrote %d bytes, read %d different", n, len(got))
		}
	}
}

func TestNoChangeWritesNothing(t *testing.T) {
	c := cluster(t)("w")
	o := small(3)
	content := randomBytes(3, 40_000)
	if _, err := Put(ctx(t), c, "f", content, o); err != nil {
		t.Fatal(err)
	}
	st, err := Put(ctx(t), c, "f", content, o)
	if err != nil || st.BlocksWritten != 0 || st.BytesWritten != 0 || st.BlocksUnchanged != st.Blocks {
		t.Fatalf("rewrite of the same content: %+v, %v", st, err)
	}
}

// TestSmallEdit: a 1-byte change in the middle of a 4 MiB file writes a
// few blocks, not the file.
func TestSmallEdit(t *testing.T) {
	c := cluster(t)("w")
	o := Options{Min: 4 << 10, Average: 16 << 10, Max: 64 << 10}
	content := randomBytes(4, 4<<20)
	first, err := Put(ctx(t), c, "big", content, o)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Clone(content)
	edited[len(edited)/2] ^= 0xff
	st, err := Put(ctx(t), c, "big", edited, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("4 MiB file, %d blocks: 1-byte edit wrote %d blocks, %d bytes (%.2f%%), kept %d", first.Blocks, st.BlocksWritten, st.BytesWritten, 100*float64(st.BytesWritten)/float64(len(content)), st.BlocksUnchanged)
	if st.BlocksWritten > 2 || st.BytesWritten > len(content)/20 || st.Blocks != st.BlocksWritten+st.BlocksUnchanged {
		t.Errorf("1-byte edit: %+v", st)
	}
	if got, _ := mustGet(t, c, "big", o); !bytes.Equal(got, edited) {
		t.Fatal("read after edit differs")
	}
}

// TestInsertDelete edits a file at its start, middle and end.
func TestInsertDelete(t *testing.T) {
	c := cluster(t)("w")
	o := small(5)
	base := randomBytes(5, 60_000)
	ins := randomBytes(6, 3000)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	mid := len(base) / 2
	blocks, err := Chunks(base, o)
	if err != nil || len(blocks) < 5 {
		t.Fatalf("%d blocks, %v", len(blocks), err)
	}
	edits := []struct {
		name    string
		content []byte
		keeps   bool // some blocks must be kept
	}{
		{"insert at start", cat(ins, base), true},
		{"insert in middle", cat(base[:mid], ins, base[mid:]), true},
		{"insert at end", cat(base, ins), true},
		{"delete at start", base[5000:], true},
		{"delete in middle", cat(base[:mid], base[mid+5000:]), true},
		{"delete at end", base[:len(base)-5000], true},
		{"delete all", nil, false},
		// Whole blocks: nothing new to write, only the relink.
		{"delete whole blocks", cat(append(blocks[:2:2], blocks[4:]...)...), true},
	}
	for i, e := range edits {
		t.Run(e.name, func(t *testing.T) {
			key := fmt.Sprintf("f%d", i)
			if _, err := Put(ctx(t), c, key, base, o); err != nil {
				t.Fatal(err)
			}
			st, err := Put(ctx(t), c, key, e.content, o)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := mustGet(t, c, key, o); !bytes.Equal(got, e.content) {
				t.Fatalf("read %d bytes, want the %d written", len(got), len(e.content))
			}
			if e.keeps && (st.BlocksUnchanged == 0 || st.BytesWritten > len(base)/2) {
				t.Errorf("%+v: want most blocks kept", st)
			}
			if e.name == "delete whole blocks" && (st.BlocksWritten != 0 || st.Blocks != len(blocks)-2) {
				t.Errorf("%+v: want no block written, %d kept", st, len(blocks)-2)
			}
			t.Logf("%+v", st)
		})
	}
}

// hooked pauses a Put: it calls before ahead of each CoverWrite, with the
// number of CoverWrites done so far.
type hooked struct {
	Objects
	mu     sync.Mutex
	n      int
	before func(n int, key string)
}

func (h *hooked) CoverWrite(ctx context.Context, key string, base ares.Tag, value []byte) (ares.CoverResult, error) {
	h.mu.Lock()
	n := h.n
	h.n++
	h.mu.Unlock()
	if h.before != nil {
		h.before(n, key)
	}
	return h.Objects.CoverWrite(ctx, key, base, value)
}

// TestStaleCommitCovered: a Put that read the file before another Put
// changed the same place is covered at its commit and leaves the other's
// file intact.
func TestStaleCommitCovered(t *testing.T) {
	cl := cluster(t)
	a, b := cl("a"), cl("b")
	o := small(7)
	base := randomBytes(7, 30_000)
	if _, err := Put(ctx(t), a, "f", base, o); err != nil {
		t.Fatal(err)
	}
	// Both change the first bytes: both commit at the head.
	ca, cb := bytes.Clone(base), bytes.Clone(base)
	ca[0], cb[0] = 'A', 'B'
	hb := &hooked{Objects: b, before: func(n int, key string) {
		if key != "f" { // not yet b's commit
			return
		}
		if _, err := Put(ctx(t), a, "f", ca, o); err != nil {
			t.Errorf("a's put: %v", err)
		}
	}}
	st, err := Put(ctx(t), hb, "f", cb, o)
	if !errors.Is(err, ErrCovered) || !st.Covered {
		t.Fatalf("b's stale put: %+v, %v; want ErrCovered", st, err)
	}
	t.Logf("b: %v", err)
	if got, _ := mustGet(t, b, "f", o); !bytes.Equal(got, ca) {
		t.Fatal("the file is not a's")
	}
}

// TestOldOrNew reads the file at every point of a Put (before each of its
// CoverWrites and after the last): a correct Put shows the old or the new
// file each time; with BugLinkFirst some read is neither, which is the
// bug being observable.
func TestOldOrNew(t *testing.T) {
	for _, bug := range []ares.Bug{"", ares.BugLinkFirst} {
		t.Run(fmt.Sprintf("bug=%q", bug), func(t *testing.T) {
			cl := cluster(t)
			w, r := cl("w"), cl("r")
			o := small(8)
			oldC := randomBytes(8, 40_000)
			if _, err := Put(ctx(t), w, "f", oldC, o); err != nil {
				t.Fatal(err)
			}
			// New content: the middle replaced by 6000 other bytes, so
			// several new blocks go in between kept ones.
			newC := bytes.Join([][]byte{oldC[:15_000], randomBytes(9, 6000), oldC[21_000:]}, nil)
			neither, missing := 0, 0
			check := func(when string) {
				got, st, err := Get(ctx(t), r, "f", o)
				if err != nil {
					t.Fatalf("read %s: %v", when, err)
				}
				missing += st.Missing
				if !bytes.Equal(got, oldC) && !bytes.Equal(got, newC) {
					neither++
					t.Logf("read %s: %d bytes, %d blocks (%d missing): neither the old (%d) nor the new (%d) file", when, len(got), st.Blocks, st.Missing, len(oldC), len(newC))
				}
			}
			wo := o
			wo.Bug = bug
			hw := &hooked{Objects: w, before: func(n int, key string) { check(fmt.Sprintf("before write %d (%s)", n, key)) }}
			st, err := Put(ctx(t), hw, "f", newC, wo)
			if err != nil {
				t.Fatal(err)
			}
			check("after the put")
			if st.BlocksWritten < 2 {
				t.Fatalf("put %+v: want several new blocks", st)
			}
			if bug == "" && (neither != 0 || missing != 0) {
				t.Errorf("correct put: %d reads neither old nor new, %d missing blocks", neither, missing)
			}
			if bug == ares.BugLinkFirst && (neither == 0 || missing == 0) {
				t.Errorf("%s: every read was the old or new file: bug not observable", bug)
			}
			if got, _ := mustGet(t, r, "f", o); !bytes.Equal(got, newC) {
				t.Fatal("final read is not the new file")
			}
		})
	}
}

func TestDecode(t *testing.T) {
	for _, c := range []struct {
		data []byte
		next string
	}{{nil, ""}, {[]byte("x"), ""}, {nil, "f/00"}, {bytes.Repeat([]byte{7}, 300), string(bytes.Repeat([]byte{'n'}, 200))}} {
		d, n, err := decodeBlock(encodeBlock(c.data, c.next))
		if err != nil || !bytes.Equal(d, c.data) || n != c.next {
			t.Errorf("round trip of %q, %q: %q, %q, %v", c.data, c.next, d, n, err)
		}
	}
	if d, n, err := decodeBlock(nil); err != nil || d != nil || n != "" {
		t.Errorf("never-written block: %q %q %v", d, n, err)
	}
	for _, g := range [][]byte{{0}, []byte("hello"), {blockV1}, {blockV1, 0x80}, {blockV1, 5, 'a'}, {blockV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		if _, _, err := decodeBlock(g); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decode %q: %v, want ErrCorrupt", g, err)
		}
	}
}

// TestCorruptLists: a plain value under a file key, a link out of the
// file, a cycle and an overlong list are errors, not hangs.
func TestCorruptLists(t *testing.T) {
	c := cluster(t)("w")
	write := func(key string, v []byte) {
		if err := c.Write(ctx(t), key, v); err != nil {
			t.Fatal(err)
		}
	}
	write("plain", []byte("not a block"))
	write("out", encodeBlock(nil, "other/1"))
	write("cyc", encodeBlock(nil, "cyc/1"))
	write("cyc/1", encodeBlock([]byte("a"), "cyc/2"))
	write("cyc/2", encodeBlock([]byte("b"), "cyc/1"))
	o := small(10)
	for _, key := range []string{"plain", "out", "cyc"} {
		if _, _, err := Get(ctx(t), c, key, o); !errors.Is(err, ErrCorrupt) {
			t.Errorf("get %q: %v, want ErrCorrupt", key, err)
		}
		if _, err := Put(ctx(t), c, key, []byte("x"), o); !errors.Is(err, ErrCorrupt) {
			t.Errorf("put %q: %v, want ErrCorrupt", key, err)
		}
	}
	if _, err := Put(ctx(t), c, "long", randomBytes(11, 20_000), o); err != nil {
		t.Fatal(err)
	}
	o.MaxBlocks = 3
	if _, _, err := Get(ctx(t), c, "long", o); !errors.Is(err, ErrCorrupt) {
		t.Errorf("get over MaxBlocks: %v, want ErrCorrupt", err)
	}
}

func TestOptions(t *testing.T) {
	for _, o := range []Options{{Min: 10}, {Min: 1024, Average: 1024}, {Min: 100, Average: 200, Max: 150}} {
		if _, err := Chunks([]byte("x"), o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	for _, c := range []struct{ min, avg, bits int }{{64 << 10, 256 << 10, 17}, {256, 1024, 9}, {256, 1300, 10}, {1000, 1001, 1}, {0, 1 << 20, 20}} {
		if b := (Options{Min: c.min, Average: c.avg}).averageBits(); b != c.bits {
			t.Errorf("min %d avg %d: %d bits, want %d", c.min, c.avg, b, c.bits)
		}
	}
}

// memObjects is a coverable store in a map, for measuring what Put
// writes without a cluster.
type memObjects struct {
	mu sync.Mutex
	m  map[string]memVal
}

type memVal struct {
	tag ares.Tag
	v   []byte
}

func (s *memObjects) ReadInfo(_ context.Context, key string) ([]byte, ares.OpInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	return e.v, ares.OpInfo{Tag: e.tag}, nil
}

func (s *memObjects) CoverWrite(_ context.Context, key string, base ares.Tag, value []byte) (ares.CoverResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]memVal{}
	}
	e := s.m[key]
	if e.tag != base {
		return ares.CoverResult{OpInfo: ares.OpInfo{Tag: e.tag}, Covered: true, Value: e.v}, nil
	}
	e = memVal{tag: ares.Tag{TS: e.tag.TS + 1, WID: "mem"}, v: value}
	s.m[key] = e
	return ares.CoverResult{OpInfo: ares.OpInfo{Tag: e.tag}}, nil
}

// editDefault writes an n-byte file with the default boundaries, changes
// one byte in its middle, and returns what the first and second Put did.
func editDefault(tb testing.TB, n int) (first, edit PutStats) {
	objs := &memObjects{}
	content := randomBytes(12, n)
	first, err := Put(context.Background(), objs, "f", content, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	content[n/2] ^= 1
	edit, err = Put(context.Background(), objs, "f", content, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	got, _, err := Get(context.Background(), objs, "f", Options{})
	if err != nil || !bytes.Equal(got, content) {
		tb.Fatalf("read after edit: %d bytes, %v", len(got), err)
	}
	return first, edit
}

// TestEditDefaultBoundaries measures a 1-byte edit in a 64 MiB file with
// the default boundaries (16 MiB with -short).
func TestEditDefaultBoundaries(t *testing.T) {
	n := 64 << 20
	if testing.Short() {
		n = 16 << 20
	}
	first, edit := editDefault(t, n)
	t.Logf("%d MiB file: %d blocks (mean %d KiB); 1-byte edit in the middle: %d blocks written, %d unchanged, %d bytes written (%.3f%% of the file)",
		n>>20, first.Blocks, n/first.Blocks>>10, edit.BlocksWritten, edit.BlocksUnchanged, edit.BytesWritten, 100*float64(edit.BytesWritten)/float64(n))
	if edit.BlocksWritten > 3 || edit.BytesWritten > 4*DefaultMax {
		t.Errorf("1-byte edit: %+v", edit)
	}
}

// BenchmarkEdit64MiB: the bytes a 1-byte edit of a 64 MiB file writes
// with the default boundaries (in-memory store: chunking and encoding
// only), as custom metrics.
func BenchmarkEdit64MiB(b *testing.B) {
	var first, edit PutStats
	for b.Loop() {
		first, edit = editDefault(b, 64<<20)
	}
	b.ReportMetric(float64(first.Blocks), "blocks")
	b.ReportMetric(float64(edit.BlocksWritten), "blocks-written")
	b.ReportMetric(float64(edit.BytesWritten), "edit-bytes-written")
	b.ReportMetric(float64(64<<20)/float64(edit.BytesWritten), "file/edit-bytes")
}
