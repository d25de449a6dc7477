package ares

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestTagOrder(t *testing.T) {
	a := Tag{1, "a"}
	b := Tag{1, "b"}
	c := Tag{2, "a"}
	if !a.Less(b) || !b.Less(c) || !a.Less(c) || c.Less(a) || a.Less(a) {
		t.Fatal("tag order is not <ts, wid> lexicographic")
	}
	if (Tag{}).Compare(a) != -1 || c.Compare(b) != 1 || a.Compare(a) != 0 {
		t.Fatal("Compare disagrees with Less")
	}
	if !(Tag{}).IsZero() || a.IsZero() {
		t.Fatal("IsZero")
	}
	if MaxTag(a, c) != c || MaxTag(c, a) != c {
		t.Fatal("MaxTag")
	}
}

// testConfig is configuration id of the servers s1..s3 with dap (k=2 for
// EC), as the server tests' requests describe it.
func testConfig(id uint64, dap DAP) *Config {
	if dap == "" {
		dap = ABD
	}
	c := &Config{ID: id, Servers: nodes(3), DAP: dap}
	if dap == EC {
		c.K = 2
	}
	return c
}

// desc names and describes req's configuration as a client does
// (testConfig of its index and DAP), unless it already does.
func desc(req *Request) *Request {
	if req.Described == nil {
		req.Described = testConfig(req.Config, req.DAP)
		req.DAP = req.Described.DAP
		req.Digest = req.Described.Digest()
	}
	return req
}

func nodes(n int) []Node {
	out := make([]Node, n)
	for i := range out {
		out[i] = Node{ID: fmt.Sprintf("s%d", i+1), Addr: fmt.Sprintf("127.0.0.1:%d", 7001+i)}
	}
	return out
}

func TestQuorumSizes(t *testing.T) {
	for _, tc := range []struct {
		n, k int
		dap  DAP
		want int
	}{
		{1, 0, ABD, 1}, {3, 0, ABD, 2}, {4, 0, ABD, 3}, {5, 0, ABD, 3},
		{5, 3, EC, 4}, {5, 1, EC, 3}, {6, 2, EC, 4}, {11, 6, EC, 9}, {4, 3, EC, 4},
	} {
		c := Config{Servers: nodes(tc.n), DAP: tc.dap, K: tc.k}
		if got := c.Quorum(); got != tc.want {
			t.Errorf("%s n=%d k=%d: quorum %d, want %d", tc.dap, tc.n, tc.k, got, tc.want)
		}
		// Any two EC quorums must share k servers: 2q - n >= k.
		if tc.dap == EC && 2*c.Quorum()-tc.n < tc.k {
			t.Errorf("n=%d k=%d: quorums share fewer than k servers", tc.n, tc.k)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []Config{
		{DAP: ABD},
		{Servers: nodes(3), DAP: "raft"},
		{Servers: nodes(3), DAP: EC, K: 3},
		{Servers: nodes(3), DAP: EC, K: 0},
		{Servers: append(nodes(2), Node{ID: "s1", Addr: "x:1"}), DAP: ABD},
		{Servers: append(nodes(2), Node{ID: "s9", Addr: "127.0.0.1:7001"}), DAP: ABD},
		{Servers: []Node{{ID: "", Addr: "x:1"}}, DAP: ABD},
	}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("%v: no error", c)
		}
	}
	good := Config{Servers: nodes(5), DAP: EC, K: 3}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseServers("s1=a:1,s2"); err == nil {
		t.Error("malformed list accepted")
	}
	if _, err := ParseServers("s1=nohostport"); err == nil {
		t.Error("address without port accepted")
	}
	ns, err := ParseServers("s1=a:1, s2=b:2")
	if err != nil || len(ns) != 2 || ns[1] != (Node{"s2", "b:2"}) {
		t.Fatalf("ParseServers: %v %v", ns, err)
	}
}

// Any n-k elements may be missing: every subset of k elements decodes.
func TestECEncodeDecodeAnySubset(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, nk := range [][2]int{{5, 3}, {3, 1}, {6, 4}, {7, 2}} {
		n, k := nk[0], nk[1]
		for _, size := range []int{0, 1, 7, 1000, 65537} {
			v := make([]byte, size)
			for i := range v {
				v[i] = byte(rng.UintN(256))
			}
			elems, err := Encode(v, n, k)
			if err != nil {
				t.Fatal(err)
			}
			for mask := 0; mask < 1<<n; mask++ {
				if popcount(mask) != k {
					continue
				}
				in := make([][]byte, n)
				for i := 0; i < n; i++ {
					if mask&(1<<i) != 0 {
						in[i] = append([]byte(nil), elems[i]...)
					}
				}
				got, err := Decode(in, n, k)
				if err != nil {
					t.Fatalf("[%d,%d] size %d mask %b: %v", n, k, size, mask, err)
				}
				if !bytes.Equal(got, v) {
					t.Fatalf("[%d,%d] size %d mask %b: wrong value", n, k, size, mask)
				}
			}
			short := make([][]byte, n)
			for i := 0; i < k-1; i++ {
				short[i] = elems[i]
			}
			if _, err := Decode(short, n, k); err == nil {
				t.Fatalf("[%d,%d]: decoded from %d elements", n, k, k-1)
			}
		}
	}
}

func popcount(x int) int {
	c := 0
	for ; x != 0; x &= x - 1 {
		c++
	}
	return c
}

func put(t *testing.T, s *Server, cfg uint64, dap DAP, key string, tag Tag, v string) {
	t.Helper()
	_, err := s.Handle(context.Background(), desc(&Request{Op: OpPutData, Config: cfg, DAP: dap, Items: []Item{{Key: key, Tag: tag, Value: []byte(v)}}}))
	if err != nil {
		t.Fatal(err)
	}
}

func query(t *testing.T, s *Server, cfg uint64, dap DAP, key string) []Entry {
	t.Helper()
	r, err := s.Handle(context.Background(), desc(&Request{Op: OpQueryData, Config: cfg, DAP: dap, Keys: []string{key}}))
	if err != nil {
		t.Fatal(err)
	}
	return r.Objects[0].Entries
}

func TestServerABDTagOnlyMovesUp(t *testing.T) {
	st := NewMemStorage()
	s, _ := NewServer(st, ServerOptions{ID: "s1"})
	put(t, s, 0, ABD, "k", Tag{2, "a"}, "two")
	put(t, s, 0, ABD, "k", Tag{1, "z"}, "one") // stale
	put(t, s, 0, ABD, "k", Tag{2, "a"}, "two") // duplicate
	e := query(t, s, 0, ABD, "k")
	if len(e) != 1 || e[0].Tag != (Tag{2, "a"}) || string(e[0].Value) != "two" {
		t.Fatalf("got %+v", e)
	}
	put(t, s, 0, ABD, "k", Tag{3, "a"}, "three")
	// A restart on the same storage forgets nothing.
	s2, err := NewServer(st, ServerOptions{ID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	e = query(t, s2, 0, ABD, "k")
	if len(e) != 1 || string(e[0].Value) != "three" {
		t.Fatalf("after reopen: %+v", e)
	}
	// Configurations keep their data apart.
	if e := query(t, s2, 1, ABD, "k"); len(e) != 0 {
		t.Fatalf("configuration 1 sees configuration 0's data: %+v", e)
	}
}

func TestServerNoTagCheckBug(t *testing.T) {
	s, _ := NewServer(NewMemStorage(), ServerOptions{ID: "s1", Bug: BugNoTagCheck})
	put(t, s, 0, ABD, "k", Tag{2, "a"}, "two")
	put(t, s, 0, ABD, "k", Tag{1, "a"}, "one")
	if e := query(t, s, 0, ABD, "k"); string(e[0].Value) != "one" {
		t.Fatal("the bug is not there")
	}
}

func TestServerECDeltaTrimsByTag(t *testing.T) {
	st := NewMemStorage()
	s, _ := NewServer(st, ServerOptions{ID: "s1", Delta: 2})
	// Out of order on purpose: trimming follows tag order, not arrival.
	for _, ts := range []uint64{5, 1, 4, 2, 3, 6} {
		put(t, s, 0, EC, "k", Tag{ts, "w"}, fmt.Sprint(ts))
	}
	put(t, s, 0, EC, "k", Tag{6, "w"}, "dup")
	e := query(t, s, 0, EC, "k")
	if len(e) != 6 {
		t.Fatalf("%d entries, want 6 (tags stay)", len(e))
	}
	for i, en := range e {
		wantVal := en.Tag.TS >= 4
		if en.Tag.TS != uint64(i+1) || en.HasValue != wantVal {
			t.Fatalf("entry %d: %+v", i, en)
		}
		if wantVal && string(en.Value) != fmt.Sprint(en.Tag.TS) {
			t.Fatalf("entry %d value %q", i, en.Value)
		}
	}
	// Trimmed elements are gone from storage too.
	n := 0
	st.Scan("v/", func(string, []byte) error { n++; return nil })
	if n != 3 {
		t.Fatalf("%d stored elements, want δ+1 = 3", n)
	}
	s2, _ := NewServer(st, ServerOptions{ID: "s1", Delta: 2})
	if e2 := query(t, s2, 0, EC, "k"); len(e2) != 6 || !e2[5].HasValue {
		t.Fatalf("after reopen: %+v", e2)
	}
}

func TestServerConfigPointerAndPaxos(t *testing.T) {
	st := NewMemStorage()
	s, _ := NewServer(st, ServerOptions{ID: "s1"})
	ctx := context.Background()
	c1 := &Config{ID: 1, Servers: nodes(3), DAP: ABD}
	c3 := &Config{ID: 3, Servers: nodes(3), DAP: ABD}
	do := func(req *Request) *Response {
		t.Helper()
		r, err := s.Handle(ctx, desc(req))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	do(&Request{Op: OpWriteConfig, Config: 0, Next: NextC{c1, Finalized}})
	r := do(&Request{Op: OpWriteConfig, Config: 0, Next: NextC{c1, Pending}})
	if r.Next.Status != Finalized {
		t.Fatal("pointer moved back from F to P")
	}
	put(t, s, 0, ABD, "k", Tag{1, "a"}, "v")
	r = do(&Request{Op: OpGCConfig, Config: 0, Next: NextC{c3, Finalized}})
	if !r.Collected || r.Next.Cfg.ID != 3 {
		t.Fatalf("gc: %+v", r)
	}
	if e := query(t, s, 0, ABD, "k"); e[0].HasValue {
		t.Fatal("gc kept the data")
	}
	// Paxos: a lower ballot is refused after a promise; accepted values stay.
	p := do(&Request{Op: OpPrepare, Config: 0, Ballot: Ballot{2, "b"}})
	if !p.OK {
		t.Fatal("first prepare refused")
	}
	if p := do(&Request{Op: OpPrepare, Config: 0, Ballot: Ballot{1, "z"}}); p.OK {
		t.Fatal("lower ballot promised")
	}
	if a := do(&Request{Op: OpAccept, Config: 0, Ballot: Ballot{2, "b"}, Value: c1}); !a.OK {
		t.Fatal("accept refused")
	}
	s2, _ := NewServer(st, ServerOptions{ID: "s1"})
	r, _ = s2.Handle(ctx, desc(&Request{Op: OpPrepare, Config: 0, Ballot: Ballot{3, "a"}}))
	if !r.OK || !r.Accepted.Equal(c1) || r.AcceptedBallot != (Ballot{2, "b"}) {
		t.Fatalf("acceptor state lost on reopen: %+v", r)
	}
	if r.Next.Cfg.ID != 3 || !r.Collected {
		t.Fatal("pointer lost on reopen")
	}
}

func objs(lists ...[]Entry) []*Object {
	out := make([]*Object, 5)
	for i, l := range lists {
		if l != nil {
			out[i] = &Object{Key: "k", Entries: l}
		}
	}
	return out
}

func TestDecodeNewestRule(t *testing.T) {
	cfg := &Config{Servers: nodes(5), DAP: EC, K: 3}
	old, _ := Encode([]byte("old"), 5, 3)
	t1, t2 := Tag{1, "a"}, Tag{2, "a"}
	// t2 is in 3 lists (so T* has it) but only 2 with elements: decoding
	// the older t1 would be wrong, so the rule refuses.
	l0 := []Entry{{Tag: t1, HasValue: true, Value: old[0]}, {Tag: t2}}
	l1 := []Entry{{Tag: t1, HasValue: true, Value: old[1]}, {Tag: t2, HasValue: true, Value: []byte("x")}}
	l2 := []Entry{{Tag: t1, HasValue: true, Value: old[2]}, {Tag: t2, HasValue: true, Value: []byte("y")}}
	if _, ok, _ := decodeNewest(cfg, objs(l0, l1, l2)); ok {
		t.Fatal("returned an older decodable tag than the newest seen by k")
	}
	p, ok, err := decodeNewest(cfg, objs(l0[:1], l1, l2))
	if err != nil || !ok || p.Tag != t1 || string(p.Value) != "old" {
		t.Fatalf("got %+v %v %v", p, ok, err)
	}
	// A list that dropped tags up to its floor counts as holding them: t2
	// is then in 3 lists again, and t1 must not be returned.
	floored := objs(nil, l1, l2)
	floored[0] = &Object{Key: "k", Floor: t2}
	if _, ok, _ := decodeNewest(cfg, floored); ok {
		t.Fatal("a floor was not counted: returned an older tag")
	}
	p, ok, _ = decodeNewest(cfg, make([]*Object, 5))
	if !ok || !p.Tag.IsZero() || p.Value != nil {
		t.Fatal("empty lists must give the initial value")
	}
}

// failOnce fails the next Apply, as a full or broken disk would.
type failOnce struct {
	Storage
	fail bool
}

func (f *failOnce) Apply(p map[string][]byte, d []string) error {
	if f.fail {
		f.fail = false
		return fmt.Errorf("disk full")
	}
	return f.Storage.Apply(p, d)
}

// A change whose write failed is not in memory either, so the retry
// stores it instead of acknowledging it unstored.
func TestServerFailedWriteIsNotAcknowledgedLater(t *testing.T) {
	mem := NewMemStorage()
	st := &failOnce{Storage: mem}
	s, _ := NewServer(st, ServerOptions{ID: "s1"})
	ctx := context.Background()
	for _, req := range []*Request{
		{Op: OpPrepare, Config: 0, Ballot: Ballot{5, "p"}},
		{Op: OpPutData, Config: 0, DAP: ABD, Items: []Item{{Key: "k", Tag: Tag{1, "w"}, Value: []byte("v")}}},
		{Op: OpPutData, Config: 2, DAP: EC, Items: []Item{{Key: "e", Tag: Tag{1, "w"}, Value: []byte("v")}}},
		{Op: OpWriteConfig, Config: 0, Next: NextC{&Config{ID: 1, Servers: nodes(3), DAP: ABD}, Pending}},
	} {
		st.fail = true
		if _, err := s.Handle(ctx, desc(req)); err == nil {
			t.Fatalf("%s: a failed write was acknowledged", req.Op)
		}
		if _, err := s.Handle(ctx, desc(req)); err != nil {
			t.Fatalf("%s retry: %v", req.Op, err)
		}
	}
	s2, _ := NewServer(mem, ServerOptions{ID: "s1"})
	r, _ := s2.Handle(ctx, desc(&Request{Op: OpPrepare, Config: 0, Ballot: Ballot{1, "q"}}))
	if r.OK || r.Promised != (Ballot{5, "p"}) {
		t.Fatalf("promise lost: %+v", r)
	}
	if r.Next.IsNone() {
		t.Fatal("pointer lost")
	}
	if e := query(t, s2, 0, ABD, "k"); len(e) != 1 || string(e[0].Value) != "v" {
		t.Fatalf("abd value lost: %+v", e)
	}
	if e := query(t, s2, 2, EC, "e"); len(e) != 1 || string(e[0].Value) != "v" {
		t.Fatalf("ec element lost: %+v", e)
	}
}

func TestAcceptorOneValuePerBallot(t *testing.T) {
	s, _ := NewServer(NewMemStorage(), ServerOptions{ID: "s1"})
	ctx := context.Background()
	a := &Config{ID: 1, Servers: nodes(3), DAP: ABD}
	b := &Config{ID: 1, Servers: nodes(4), DAP: ABD}
	r, _ := s.Handle(ctx, desc(&Request{Op: OpAccept, Ballot: Ballot{1, "p"}, Value: a}))
	if !r.OK {
		t.Fatal("accept refused")
	}
	r, _ = s.Handle(ctx, desc(&Request{Op: OpAccept, Ballot: Ballot{1, "p"}, Value: b}))
	if r.OK || !r.Accepted.Equal(a) {
		t.Fatalf("a second value under one ballot: %+v", r)
	}
	// A pointer to another configuration with the same index is refused.
	if _, err := s.Handle(ctx, desc(&Request{Op: OpWriteConfig, Next: NextC{a, Pending}})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Handle(ctx, desc(&Request{Op: OpWriteConfig, Next: NextC{b, Finalized}})); err == nil {
		t.Fatal("conflicting successor accepted")
	}
}

func TestBallotsNeverRepeat(t *testing.T) {
	c, err := NewClient(ClientOptions{ID: "c", Initial: &Config{Servers: nodes(3), DAP: ABD}, Transport: nilTransport{}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for i := 0; i < 100; i++ {
		n := c.nextBallot(uint64(i % 7))
		if seen[n] {
			t.Fatalf("ballot %d used twice", n)
		}
		seen[n] = true
	}
	if n := c.nextBallot(1000); n != 1001 {
		t.Fatalf("ballot %d not above the one seen", n)
	}
}

type nilTransport struct{}

func (nilTransport) Call(ctx context.Context, _ Node, _ *Request) (*Response, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestServerECFloorKeepsDroppedTags(t *testing.T) {
	st := NewMemStorage()
	s, _ := NewServer(st, ServerOptions{ID: "s1", Delta: 1})
	for ts := uint64(1); ts <= 100; ts++ {
		put(t, s, 0, EC, "k", Tag{ts, "w"}, "x")
	}
	r, err := s.Handle(context.Background(), desc(&Request{Op: OpQueryData, DAP: EC, Keys: []string{"k"}}))
	if err != nil {
		t.Fatal(err)
	}
	o := r.Objects[0]
	if len(o.Entries) != 2+maxTagOnly || o.Floor != (Tag{100 - 2 - maxTagOnly, "w"}) {
		t.Fatalf("%d entries, floor %v", len(o.Entries), o.Floor)
	}
	// A put older than the floor is not stored again.
	put(t, s, 0, EC, "k", Tag{3, "w"}, "late")
	s2, _ := NewServer(st, ServerOptions{ID: "s1", Delta: 1})
	r, _ = s2.Handle(context.Background(), desc(&Request{Op: OpQueryData, DAP: EC, Keys: []string{"k"}}))
	if r.Objects[0].Floor != o.Floor || len(r.Objects[0].Entries) != len(o.Entries) {
		t.Fatal("floor or entries changed across a restart or a late put")
	}
}

// TestServerPutRacingGCLeavesNoValue: a put that passed the collected
// check before gc-config began, and stores its value after gc-config
// gathered what to drop, must not leave that value on disk, where no
// reader would ever look.
func TestServerPutRacingGCLeavesNoValue(t *testing.T) {
	ctx := context.Background()
	st := NewMemStorage()
	s, _ := NewServer(st, ServerOptions{ID: "s1", Delta: 3})
	put(t, s, 0, EC, "k", Tag{1, "w"}, "one")
	checked, resume := make(chan struct{}), make(chan struct{})
	s.testHookPutChecked = func() { close(checked); <-resume }
	done := make(chan error)
	go func() {
		_, err := s.Handle(ctx, desc(&Request{Op: OpPutData, Config: 0, DAP: EC, Items: []Item{{Key: "k", Tag: Tag{2, "w"}, Value: []byte("two")}}}))
		done <- err
	}()
	<-checked
	c2 := &Config{ID: 2, Servers: nodes(3), DAP: ABD}
	if _, err := s.Handle(ctx, desc(&Request{Op: OpGCConfig, Config: 0, DAP: EC, Next: NextC{c2, Finalized}})); err != nil {
		t.Fatal(err)
	}
	close(resume)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var left []string
	_ = st.Scan("v/", func(k string, _ []byte) error { left = append(left, k); return nil })
	if len(left) > 0 {
		t.Fatalf("values of the collected configuration left on disk: %v", left)
	}
}

// TestServerECReplyBudget: older EC elements beyond an object's reply
// budget go as tags only (k=1 makes each element the whole value, δ+1 of
// them a reply too large to send); the newest value always goes, and one
// object's values do not take another's room. A query of both, whose
// reply would pass the budget, is refused (TestServerRefusesHugeReply).
func TestServerECReplyBudget(t *testing.T) {
	st := &countingStorage{MemStorage: NewMemStorage()}
	s, _ := NewServer(st, ServerOptions{ID: "s1", Delta: 5, MaxReplyBytes: 250})
	big := strings.Repeat("x", 100)
	for ts := uint64(1); ts <= 6; ts++ {
		put(t, s, 0, EC, "k", Tag{ts, "w"}, big)
		put(t, s, 0, EC, "j", Tag{ts, "w"}, big)
	}
	st.gets = 0
	var objs []Object
	for _, k := range []string{"k", "j"} {
		r, err := s.Handle(context.Background(), desc(&Request{Op: OpQueryData, Config: 0, DAP: EC, Keys: []string{k}}))
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, r.Objects...)
	}
	var with []string
	for _, o := range objs {
		if len(o.Entries) != 6 {
			t.Fatalf("%s: %d entries, want all 6 tags", o.Key, len(o.Entries))
		}
		for _, e := range o.Entries {
			if e.HasValue {
				with = append(with, fmt.Sprintf("%s%d", o.Key, e.Tag.TS))
			}
		}
	}
	// Per object: 6 (the newest, always), 5 (200 of 250), not 4 (300).
	if got := strings.Join(with, ","); got != "k5,k6,j5,j6" {
		t.Fatalf("values sent for %s, want k5,k6,j5,j6", got)
	}
	// The sizes kept in the metadata spare reading what will not be sent.
	if st.gets != 4 {
		t.Errorf("%d values read from storage, want the 4 sent", st.gets)
	}
}

// TestServerPagesEveryKey: a query for every key pages at the reply
// budget, in key order from After, the first object of a page always
// going; a query that names its keys is never paged (but refused when its
// reply would pass the budget).
func TestServerPagesEveryKey(t *testing.T) {
	s, _ := NewServer(NewMemStorage(), ServerOptions{ID: "s1", Delta: 5, MaxReplyBytes: 250})
	want := []string{"a", "b", "c", "d", "e", "f", "g"}
	for i, k := range want {
		size := 100
		if k == "d" {
			size = 400 // alone over the budget: a page of its own
		}
		put(t, s, 0, ABD, k, Tag{uint64(i + 1), "w"}, strings.Repeat("x", size))
	}
	var got, pages []string
	after := ""
	for n := 0; ; n++ {
		if n > len(want) {
			t.Fatalf("no end after %d pages: %v", n, pages)
		}
		r, err := s.Handle(context.Background(), desc(&Request{Op: OpQueryData, Config: 0, DAP: ABD, AllKeys: true, After: after}))
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range r.Objects {
			if len(o.Entries) != 1 || !o.Entries[0].HasValue {
				t.Fatalf("%s sent without its value: %+v", o.Key, o)
			}
			keys = append(keys, o.Key)
		}
		got = append(got, keys...)
		pages = append(pages, strings.Join(keys, ""))
		if !r.More {
			break
		}
		after = keys[len(keys)-1]
	}
	if strings.Join(got, "") != strings.Join(want, "") {
		t.Fatalf("keys %v, want %v", got, want)
	}
	if p := strings.Join(pages, ","); p != "ab,c,d,ef,g" {
		t.Fatalf("pages %s, want ab,c,d,ef,g (250 bytes each, d alone)", p)
	}
	r, err := s.Handle(context.Background(), desc(&Request{Op: OpQueryData, Config: 0, DAP: ABD, Keys: []string{"a", "b"}}))
	if err != nil || r.More || len(r.Objects) != 2 {
		t.Fatalf("named keys: %+v, %v", r, err)
	}
	// Named keys whose reply would pass the budget are refused, not paged.
	if _, err := s.Handle(context.Background(), desc(&Request{Op: OpQueryData, Config: 0, DAP: ABD, Keys: want})); !IsRefused(err) {
		t.Fatalf("named keys over the budget: %v, want a refusal", err)
	}
}

// TestServerPageEndsUnread: the object that would overflow a page is not
// read from storage; its size is in the metadata.
func TestServerPageEndsUnread(t *testing.T) {
	st := &countingStorage{MemStorage: NewMemStorage()}
	s, _ := NewServer(st, ServerOptions{ID: "s1", Delta: 5, MaxReplyBytes: 250})
	for i, k := range []string{"a", "b", "c"} {
		put(t, s, 0, ABD, k, Tag{uint64(i + 1), "w"}, strings.Repeat("x", 100))
	}
	st.gets = 0
	r, err := s.Handle(context.Background(), desc(&Request{Op: OpQueryData, Config: 0, DAP: ABD, AllKeys: true}))
	if err != nil || !r.More || len(r.Objects) != 2 {
		t.Fatalf("%d objects, more=%v, %v; want a and b, more", len(r.Objects), r.More, err)
	}
	if st.gets != 2 {
		t.Errorf("%d values read, want the 2 sent", st.gets)
	}
}

// countingStorage counts the Gets of stored values.
type countingStorage struct {
	*MemStorage
	gets int
}

func (c *countingStorage) Get(key string) ([]byte, bool, error) {
	if strings.HasPrefix(key, "v/") {
		c.gets++
	}
	return c.MemStorage.Get(key)
}
