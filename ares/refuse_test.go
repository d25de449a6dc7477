package ares

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// refusedRequests are requests a server must refuse, storing nothing,
// each named by what is wrong with it.
func refusedRequests() map[string]*Request {
	c0 := testConfig(0, ABD)
	ec0 := testConfig(0, EC)
	withServers := func(c *Config, ns ...Node) *Config {
		d := c.Clone()
		d.Servers = ns
		return d
	}
	n := nodes(3)
	badCfgs := map[string]*Config{
		"empty id":       withServers(c0, Node{ID: "", Addr: "a:1"}, n[0], n[1]),
		"empty address":  withServers(c0, n[0], Node{ID: "s2"}, n[2]),
		"duplicate id":   withServers(c0, n[0], n[0], n[2]),
		"duplicate addr": withServers(c0, n[0], Node{ID: "s2", Addr: n[0].Addr}, n[2]),
		"no servers":     withServers(c0),
		"unknown dap":    {ID: 0, Servers: n, DAP: "raid5"},
		"ec k=0":         {ID: 0, Servers: n, DAP: EC, K: 0},
		"ec k=n":         {ID: 0, Servers: n, DAP: EC, K: 3},
		"ec k<0":         {ID: 0, Servers: n, DAP: EC, K: -1},
	}
	named := func(req *Request, c *Config) *Request {
		req.Config, req.DAP, req.Digest, req.Described = c.ID, c.DAP, c.Digest(), c
		return req
	}
	out := map[string]*Request{
		"unknown op":        named(&Request{Op: Op(99)}, c0),
		"invalid op":        named(&Request{Op: OpInvalid}, c0),
		"no description":    {Op: OpPutData, Config: 0, DAP: ABD, Items: []Item{{Key: "k", Tag: Tag{1, "w"}, Value: []byte("v")}}},
		"no description, 7": {Op: OpQueryTag, Config: 7, DAP: ABD, Keys: []string{"k"}},
		"index mismatch":    {Op: OpQueryTag, Config: 7, DAP: ABD, Digest: c0.Digest(), Described: c0, Keys: []string{"k"}},
		"dap mismatch":      {Op: OpQueryTag, Config: 0, DAP: EC, Digest: c0.Digest(), Described: c0, Keys: []string{"k"}},
		"digest mismatch":   {Op: OpQueryTag, Config: 0, DAP: ABD, Digest: ec0.Digest(), Described: c0, Keys: []string{"k"}},
		"empty digest":      {Op: OpQueryTag, Config: 0, DAP: ABD, Described: c0, Keys: []string{"k"}},
		"not a member": named(&Request{Op: OpPutData, Items: []Item{{Key: "k", Tag: Tag{1, "w"}, Value: []byte("v")}}},
			&Config{ID: 0, Servers: []Node{{ID: "s7", Addr: "a:7"}, {ID: "s8", Addr: "a:8"}}, DAP: ABD}),
		"not a member, 12345": named(&Request{Op: OpPutData, Items: []Item{{Key: "k", Tag: Tag{1, "w"}, Value: []byte("v")}}},
			&Config{ID: 12345, Servers: []Node{{ID: "s7", Addr: "a:7"}}, DAP: ABD}),
		"query-data duplicate key": named(&Request{Op: OpQueryData, Keys: []string{"k", "j", "k"}}, c0),
		"query-tag duplicate key":  named(&Request{Op: OpQueryTag, Keys: []string{"k", "k"}}, c0),
		"query-tag every key":      named(&Request{Op: OpQueryTag, AllKeys: true}, c0),
		"every key and keys":       named(&Request{Op: OpQueryData, AllKeys: true, Keys: []string{"k"}}, c0),
		"write-config empty":       named(&Request{Op: OpWriteConfig}, c0),
		"write-config none status": named(&Request{Op: OpWriteConfig, Next: NextC{Cfg: testConfig(1, ABD)}}, c0),
		"write-config status 7":    named(&Request{Op: OpWriteConfig, Next: NextC{Cfg: testConfig(1, ABD), Status: 7}}, c0),
		"write-config to self":     named(&Request{Op: OpWriteConfig, Next: NextC{Cfg: testConfig(2, ABD), Status: Pending}}, testConfig(2, ABD)),
		"write-config backward":    named(&Request{Op: OpWriteConfig, Next: NextC{Cfg: testConfig(1, ABD), Status: Finalized}}, testConfig(2, ABD)),
		"gc-config to self":        named(&Request{Op: OpGCConfig, Next: NextC{Cfg: testConfig(0, ABD), Status: Finalized}}, c0),
		"gc-config pending":        named(&Request{Op: OpGCConfig, Next: NextC{Cfg: testConfig(1, ABD), Status: Pending}}, c0),
		"accept without value":     named(&Request{Op: OpAccept, Ballot: Ballot{1, "p"}}, c0),
		"accept of self":           named(&Request{Op: OpAccept, Ballot: Ballot{1, "p"}, Value: testConfig(0, ABD)}, c0),
		"accept skipping":          named(&Request{Op: OpAccept, Ballot: Ballot{1, "p"}, Value: testConfig(2, ABD)}, c0),
		"accept backward":          named(&Request{Op: OpAccept, Ballot: Ballot{1, "p"}, Value: testConfig(1, ABD)}, testConfig(3, ABD)),
	}
	for what, c := range badCfgs {
		out["described "+what] = &Request{Op: OpPutData, Config: c.ID, DAP: c.DAP, Digest: c.Digest(), Described: c,
			Items: []Item{{Key: "k", Tag: Tag{1, "w"}, Value: []byte("v")}}}
		p := c.Clone()
		p.ID = 1
		out["write-config "+what] = named(&Request{Op: OpWriteConfig, Next: NextC{Cfg: p, Status: Pending}}, c0)
		out["gc-config "+what] = named(&Request{Op: OpGCConfig, Next: NextC{Cfg: p, Status: Finalized}}, c0)
		out["accept "+what] = named(&Request{Op: OpAccept, Ballot: Ballot{1, "p"}, Value: p}, c0)
	}
	return out
}

// TestServerRefusesMalformed: every refused request is a RefusedError and
// leaves nothing on disk, and a refusal is not sticky: a good request
// after it is served.
func TestServerRefusesMalformed(t *testing.T) {
	ctx := context.Background()
	for name, req := range refusedRequests() {
		st := NewMemStorage()
		var logs bytes.Buffer
		s, _ := NewServer(st, ServerOptions{ID: "s1", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if _, err := s.Handle(ctx, req); !IsRefused(err) {
			t.Errorf("%s: %v, want a refusal", name, err)
			continue
		}
		var keys []string
		_ = st.Scan("", func(k string, _ []byte) error { keys = append(keys, k); return nil })
		if len(keys) > 0 {
			t.Errorf("%s: refused but stored %v", name, keys)
		}
		if len(s.cfgs) > 0 {
			t.Errorf("%s: refused but keeps state of %d configurations", name, len(s.cfgs))
		}
		if !strings.Contains(logs.String(), "request refused") {
			t.Errorf("%s: refusal not logged: %q", name, logs.String())
		}
		put(t, s, 0, ABD, "k", Tag{1, "w"}, "v")
	}
}

// TestServerRefusesOtherConfiguration: the first request that changes
// state records its configuration; a request that describes another one
// under the same index is refused and says how they differ, also after a
// restart.
func TestServerRefusesOtherConfiguration(t *testing.T) {
	ctx := context.Background()
	st := NewMemStorage()
	s, _ := NewServer(st, ServerOptions{ID: "s1"})
	put(t, s, 0, EC, "k", Tag{1, "w"}, "element")
	ec := testConfig(0, EC)
	moved := ec.Clone()
	moved.Servers[2].Addr = "10.0.0.9:7003"
	k1 := &Config{ID: 0, Servers: append(nodes(3), Node{ID: "s4", Addr: "a:4"}), DAP: EC, K: 1}
	cases := []struct {
		d    *Config
		want string
	}{
		{testConfig(0, ABD), "configuration 0 here is ec(3,2), request says abd"},
		{moved, "configuration 0 here has servers s1=127.0.0.1:7001,s2=127.0.0.1:7002,s3=127.0.0.1:7003, request says s1=127.0.0.1:7001,s2=127.0.0.1:7002,s3=10.0.0.9:7003"},
		{k1, "configuration 0 here is ec(3,2), request says ec(4,1)"},
	}
	for _, srv := range []*Server{s, reopen(t, st)} {
		for _, c := range cases {
			for _, op := range []Op{OpQueryTag, OpQueryData, OpPutData, OpReadConfig, OpPrepare} {
				req := &Request{Op: op, Config: 0, DAP: c.d.DAP, Digest: c.d.Digest(), Described: c.d, Keys: []string{"k"}}
				if op == OpPutData {
					req.Keys, req.Items = nil, []Item{{Key: "k", Tag: Tag{2, "w"}, Value: []byte("x")}}
				}
				_, err := srv.Handle(ctx, req)
				if !IsRefused(err) || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s as %s: %v, want a refusal saying %q", op, c.d.Kind(), err, c.want)
				}
			}
		}
		if e := query(t, srv, 0, EC, "k"); len(e) != 1 || string(e[0].Value) != "element" {
			t.Fatalf("the recorded configuration's data changed: %+v", e)
		}
	}
}

func reopen(t *testing.T, st Storage) *Server {
	t.Helper()
	s, err := NewServer(st, ServerOptions{ID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestQueryOfUnknownConfigurationKeepsNothing: a query of a configuration
// the server holds nothing of is answered as empty, and neither stores
// nor keeps anything (made-up indexes cost no memory).
func TestQueryOfUnknownConfigurationKeepsNothing(t *testing.T) {
	st := NewMemStorage()
	s, _ := NewServer(st, ServerOptions{ID: "s1"})
	for _, op := range []Op{OpQueryTag, OpQueryData, OpReadConfig} {
		r, err := s.Handle(context.Background(), desc(&Request{Op: op, Config: 12345, Keys: []string{"k"}}))
		if err != nil || !r.Next.IsNone() {
			t.Fatalf("%s: %+v, %v", op, r, err)
		}
	}
	var keys []string
	_ = st.Scan("", func(k string, _ []byte) error { keys = append(keys, k); return nil })
	if len(keys) > 0 || len(s.cfgs) > 0 {
		t.Fatalf("a query stored %v and keeps %d configurations", keys, len(s.cfgs))
	}
}

// TestServerRefusesHugeReply: a query of named keys whose reply would pass
// the reply budget is refused before the values past the budget are read;
// a single key always goes.
func TestServerRefusesHugeReply(t *testing.T) {
	st := &countingStorage{MemStorage: NewMemStorage()}
	s, _ := NewServer(st, ServerOptions{ID: "s1", MaxReplyBytes: 250})
	for _, k := range []string{"a", "b", "c"} {
		put(t, s, 0, ABD, k, Tag{1, "w"}, strings.Repeat("x", 200))
	}
	st.gets = 0
	_, err := s.Handle(context.Background(), desc(&Request{Op: OpQueryData, Keys: []string{"a", "b", "c"}}))
	if !IsRefused(err) || !strings.Contains(err.Error(), "250 bytes") {
		t.Fatalf("%v, want a refusal naming the budget", err)
	}
	if st.gets != 1 {
		t.Errorf("%d values read for a refused reply, want 1 (the first key's)", st.gets)
	}
	// Keys count too: a reply echoes them.
	long := strings.Repeat("k", 300)
	if _, err := s.Handle(context.Background(), desc(&Request{Op: OpQueryData, Keys: []string{"z", long}})); !IsRefused(err) {
		t.Fatalf("a reply echoing a 300-byte key past a 250-byte budget: %v", err)
	}
	if r, err := s.Handle(context.Background(), desc(&Request{Op: OpQueryData, Keys: []string{"a"}})); err != nil || len(r.Objects[0].Entries[0].Value) != 200 {
		t.Fatalf("one key: %+v, %v", r, err)
	}
}

// TestLogLinesCutKeys: a refused or failed request with a huge key logs a
// line of bounded size.
func TestLogLinesCutKeys(t *testing.T) {
	var logs bytes.Buffer
	mem := NewMemStorage()
	st := &failOnce{Storage: mem}
	s, _ := NewServer(st, ServerOptions{ID: "s1", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	put(t, s, 1, ABD, "x", Tag{1, "w"}, "v") // records configuration 1
	key := strings.Repeat("k", 100<<10)
	if _, err := s.Handle(context.Background(), desc(&Request{Op: OpQueryData, Config: 1, Keys: []string{key, key}})); !IsRefused(err) {
		t.Fatalf("duplicate keys: %v", err)
	}
	st.fail = true
	if _, err := s.Handle(context.Background(), desc(&Request{Op: OpPutData, Config: 1, Items: []Item{{Key: key, Tag: Tag{1, "w"}, Value: []byte("v")}}})); err == nil || IsRefused(err) {
		t.Fatalf("failed put: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if len(line) > 2048 {
			t.Errorf("log line of %d bytes: %.200s…", len(line), line)
		}
	}
	if !strings.Contains(logs.String(), "(102400 bytes)") {
		t.Errorf("log lines do not give the key's length: %.500s", logs.String())
	}
}

func TestShortKey(t *testing.T) {
	if got := ShortKey("k"); got != `"k"` {
		t.Errorf("ShortKey(k) = %s", got)
	}
	long := strings.Repeat("a", 1000)
	if got := ShortKey(long); got != `"`+long[:64]+`"…(1000 bytes)` {
		t.Errorf("ShortKey(1000 bytes) = %s", got)
	}
}

func TestDigestNamesContents(t *testing.T) {
	a := testConfig(0, EC)
	seen := map[string]string{a.Digest(): "ec"}
	b := a.Clone()
	b.ID = 9
	if b.Digest() != a.Digest() {
		t.Error("the digest depends on the index; requests carry the index beside it")
	}
	abd, abdK := testConfig(0, ABD), testConfig(0, ABD)
	abdK.K = 3
	if abd.Digest() != abdK.Digest() {
		t.Error("the digest of an abd configuration depends on k, which abd does not use")
	}
	for name, c := range map[string]*Config{
		"abd":      testConfig(0, ABD),
		"k=1":      {Servers: nodes(3), DAP: EC, K: 1},
		"order":    {Servers: []Node{nodes(3)[1], nodes(3)[0], nodes(3)[2]}, DAP: EC, K: 2},
		"address":  {Servers: []Node{nodes(3)[0], nodes(3)[1], {ID: "s3", Addr: "x:1"}}, DAP: EC, K: 2},
		"4 nodes":  {Servers: nodes(4), DAP: EC, K: 2},
		"abd 4":    {Servers: nodes(4), DAP: ABD},
		"id split": {Servers: []Node{{ID: "s1=1", Addr: "27.0.0.1:7001"}, nodes(3)[1], nodes(3)[2]}, DAP: EC, K: 2},
	} {
		d := c.Digest()
		if other, dup := seen[d]; dup {
			t.Errorf("%s has the digest of %s", name, other)
		}
		seen[d] = name
	}
}

// TestServerInitialOption: a server told configuration 0 at start refuses
// another one from the first request on, queries too, and will not start
// on a data directory that recorded another.
func TestServerInitialOption(t *testing.T) {
	st := NewMemStorage()
	s, err := NewServer(st, ServerOptions{ID: "s1", Initial: testConfig(0, EC)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Handle(context.Background(), desc(&Request{Op: OpQueryTag, Keys: []string{"k"}}))
	if !IsRefused(err) || !strings.Contains(err.Error(), "configuration 0 here is ec(3,2), request says abd") {
		t.Fatalf("abd query: %v", err)
	}
	if _, err := s.Handle(context.Background(), desc(&Request{Op: OpQueryTag, DAP: EC, Keys: []string{"k"}})); err != nil {
		t.Fatal(err)
	}
	if _, err := NewServer(st, ServerOptions{ID: "s1", Initial: testConfig(0, ABD)}); err == nil || !strings.Contains(err.Error(), "here is ec(3,2)") {
		t.Fatalf("start with another initial configuration: %v", err)
	}
	if _, err := NewServer(st, ServerOptions{ID: "s1", Initial: testConfig(0, EC)}); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*Config{
		"not a member": {Servers: []Node{{ID: "s9", Addr: "a:9"}}, DAP: ABD},
		"index 1":      testConfig(1, ABD),
		"malformed":    {Servers: nodes(3), DAP: EC},
	} {
		if _, err := NewServer(NewMemStorage(), ServerOptions{ID: "s1", Initial: c}); err == nil {
			t.Errorf("%s: started", name)
		}
	}
}
