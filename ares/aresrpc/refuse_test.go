package aresrpc

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	pb "github.com/ares-torture/torture/ares/aresrpc/aresv1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// The server under test is s1 of c0 (abd over s1..s3).
var (
	c0   = cfg(0, ares.ABD, 0, "s1", "s2", "s3")
	ec0  = cfg(0, ares.EC, 2, "s1", "s2", "s3")
	item = []ares.Item{{Key: "k", Tag: ares.Tag{TS: 1, WID: "w"}, Value: []byte("v")}}
)

// named names and describes c in req, as the client does.
func named(req *ares.Request, c *ares.Config) *ares.Request {
	req.Config, req.DAP, req.Digest, req.Described = c.ID, c.DAP, c.Digest(), c
	return req
}

// withServers is c with other servers.
func withServers(c *ares.Config, ns ...ares.Node) *ares.Config {
	d := c.Clone()
	d.Servers = ns
	return d
}

// refused are requests s1 must refuse (InvalidArgument) and store nothing
// for: the requests of issue 13, each named by what is wrong with it.
func refused() map[string]*pb.Request {
	s1, s2, s3 := c0.Servers[0], c0.Servers[1], c0.Servers[2]
	c1 := cfg(1, ares.ABD, 0, "s1", "s2", "s3")
	c2 := cfg(2, ares.ABD, 0, "s1", "s2", "s3")
	bad := map[string]*ares.Config{
		"empty id":      withServers(c1, ares.Node{Addr: "x:1"}, s2, s3),
		"empty address": withServers(c1, s1, ares.Node{ID: "s2"}, s3),
		"duplicate id":  withServers(c1, s1, s1, s3),
		"no servers":    withServers(c1),
		"unknown dap":   cfg(1, "raid5", 0, "s1", "s2", "s3"),
		"ec k=0":        cfg(1, ares.EC, 0, "s1", "s2", "s3"),
		"ec k=n":        cfg(1, ares.EC, 3, "s1", "s2", "s3"),
	}
	reqs := map[string]*ares.Request{
		"unknown op":           named(&ares.Request{Op: 42}, c0),
		"no description":       {Op: ares.OpPutData, Items: item},
		"digest mismatch":      {Op: ares.OpQueryTag, DAP: ares.ABD, Digest: ec0.Digest(), Described: c0, Keys: []string{"k"}},
		"dap mismatch":         {Op: ares.OpQueryTag, DAP: ares.EC, Digest: c0.Digest(), Described: c0, Keys: []string{"k"}},
		"not a member":         named(&ares.Request{Op: ares.OpPutData, Items: item}, cfg(0, ares.ABD, 0, "s7", "s8")),
		"arbitrary index":      named(&ares.Request{Op: ares.OpPutData, Items: item}, cfg(987654, ares.ABD, 0, "s7")),
		"duplicate keys":       named(&ares.Request{Op: ares.OpQueryData, Keys: []string{"k", "k"}}, c0),
		"write-config to self": named(&ares.Request{Op: ares.OpWriteConfig, Next: ares.NextC{Cfg: c2, Status: ares.Pending}}, c2),
		"write-config back":    named(&ares.Request{Op: ares.OpWriteConfig, Next: ares.NextC{Cfg: c1, Status: ares.Pending}}, c2),
		"gc-config pending":    named(&ares.Request{Op: ares.OpGCConfig, Next: ares.NextC{Cfg: c1, Status: ares.Pending}}, c0),
		"accept of self":       named(&ares.Request{Op: ares.OpAccept, Ballot: ares.Ballot{N: 1}, Value: c0}, c0),
		"accept skipping":      named(&ares.Request{Op: ares.OpAccept, Ballot: ares.Ballot{N: 1}, Value: c2}, c0),
	}
	for what, c := range bad {
		d := c.Clone()
		d.ID = 0
		reqs["described "+what] = &ares.Request{Op: ares.OpPutData, DAP: d.DAP, Digest: d.Digest(), Described: d, Items: item}
		reqs["write-config "+what] = named(&ares.Request{Op: ares.OpWriteConfig, Next: ares.NextC{Cfg: c, Status: ares.Pending}}, c0)
		reqs["gc-config "+what] = named(&ares.Request{Op: ares.OpGCConfig, Next: ares.NextC{Cfg: c, Status: ares.Finalized}}, c0)
		reqs["accept "+what] = named(&ares.Request{Op: ares.OpAccept, Ballot: ares.Ballot{N: 1}, Value: c}, c0)
	}
	out := map[string]*pb.Request{
		// Refused by the conversion already.
		"status 999": {Op: pb.Op_OP_WRITE_CONFIG, Next: &pb.NextC{Status: 999, Cfg: ConfigToPB(c1)}},
		"status 7":   RequestToPB(named(&ares.Request{Op: ares.OpWriteConfig, Next: ares.NextC{Cfg: c1, Status: 7}}, c0)),
		"null node": {Op: pb.Op_OP_PUT_DATA, Config: 0, Dap: "abd",
			Described: &pb.Config{Servers: []*pb.Node{nil}, Dap: "abd"}},
	}
	for name, r := range reqs {
		out[name] = RequestToPB(r)
	}
	return out
}

// snapshot is every record of st.
func snapshot(st *ares.MemStorage) map[string]string {
	out := map[string]string{}
	_ = st.Scan("", func(k string, v []byte) error { out[k] = string(v); return nil })
	return out
}

// TestRefusalsAreInvalidArgument: over gRPC, each refused request is
// codes.InvalidArgument and stores nothing; the Transport hands the ares
// client an ares.RefusedError, so that it does not resend.
func TestRefusalsAreInvalidArgument(t *testing.T) {
	st := ares.NewMemStorage()
	srv, err := ares.NewServer(st, ares.ServerOptions{ID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := serve(t, "127.0.0.1:0", srv)
	cc, err := grpc.NewClient("passthrough:///"+addr, DialOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	cl := pb.NewAresClient(cc)
	tr := newTransport(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, req := range refused() {
		_, err := cl.Call(ctx, req)
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
		if got := snapshot(st); len(got) > 0 {
			t.Fatalf("%s: refused but stored %v", name, got)
		}
		if r, err := RequestFromPB(req); err == nil {
			if _, err := tr.Call(ctx, ares.Node{ID: "s1", Addr: addr}, r); !ares.IsRefused(err) {
				t.Errorf("%s: the transport returned %v, want an ares.RefusedError", name, err)
			}
		}
	}
	// A server that recorded ec(3,2) as configuration 0 refuses abd.
	if _, err := tr.Call(ctx, ares.Node{ID: "s1", Addr: addr}, named(&ares.Request{Op: ares.OpPutData, Items: item}, ec0)); err != nil {
		t.Fatal(err)
	}
	_, err = tr.Call(ctx, ares.Node{ID: "s1", Addr: addr}, named(&ares.Request{Op: ares.OpQueryData, Keys: []string{"k"}}, c0))
	if !ares.IsRefused(err) || !strings.Contains(err.Error(), "configuration 0 here is ec(3,2), request says abd") {
		t.Fatalf("abd query of ec(3,2): %v", err)
	}
}

// seeded returns a fresh server s1 whose configuration 0 (c0) holds key k,
// so that fuzzed requests meet state, and its storage.
func seeded(t testing.TB) (*ares.Server, *ares.MemStorage) {
	st := ares.NewMemStorage()
	srv, err := ares.NewServer(st, ares.ServerOptions{ID: "s1", MaxReplyBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Handle(context.Background(), named(&ares.Request{Op: ares.OpPutData, Items: item}, c0)); err != nil {
		t.Fatal(err)
	}
	return srv, st
}

// FuzzHandleRequest feeds arbitrary bytes as a request through the
// conversion (aresrpc proto -> ares) and a real server's handler: nothing
// may panic; a request is either served, with a reply that converts to the
// wire and back, or refused (RefusedError, all this in-memory storage can
// fail with) with the server's storage unchanged; and no reply carries
// values past the reply budget beyond its first object.
func FuzzHandleRequest(f *testing.F) {
	good := []*ares.Request{
		named(&ares.Request{Op: ares.OpQueryTag, Keys: []string{"k"}}, c0),
		named(&ares.Request{Op: ares.OpQueryData, Keys: []string{"k", "j"}}, c0),
		named(&ares.Request{Op: ares.OpQueryData, AllKeys: true}, c0),
		named(&ares.Request{Op: ares.OpPutData, Items: []ares.Item{{Key: "k", Tag: ares.Tag{TS: 2, WID: "w"}, Value: bytes.Repeat([]byte("x"), 600)}}}, c0),
		named(&ares.Request{Op: ares.OpReadConfig}, c0),
		named(&ares.Request{Op: ares.OpWriteConfig, Next: ares.NextC{Cfg: cfg(1, ares.EC, 2, "s1", "s2", "s3"), Status: ares.Pending}}, c0),
		named(&ares.Request{Op: ares.OpGCConfig, Next: ares.NextC{Cfg: cfg(3, ares.ABD, 0, "s1", "s2"), Status: ares.Finalized}}, c0),
		named(&ares.Request{Op: ares.OpPrepare, Ballot: ares.Ballot{N: 3, Proposer: "p"}}, c0),
		named(&ares.Request{Op: ares.OpAccept, Ballot: ares.Ballot{N: 3, Proposer: "p"}, Value: cfg(1, ares.ABD, 0, "s1", "s4")}, c0),
		named(&ares.Request{Op: ares.OpQueryData, Keys: []string{"k"}}, ec0),
		named(&ares.Request{Op: ares.OpPutData, Items: item}, cfg(5, ares.EC, 1, "s2", "s1")),
	}
	for _, r := range good {
		b, err := proto.Marshal(RequestToPB(r))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, r := range refused() {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var m pb.Request
		if proto.Unmarshal(data, &m) != nil {
			return
		}
		req, err := RequestFromPB(&m)
		if err != nil {
			return // the service answers InvalidArgument
		}
		srv, st := seeded(t)
		before := snapshot(st)
		resp, err := srv.Handle(context.Background(), req)
		if err != nil {
			if !ares.IsRefused(err) {
				t.Fatalf("%s failed but was not refused: %v", req.Op, err)
			}
			if len(err.Error()) > 2048 {
				t.Fatalf("a refusal of %d bytes", len(err.Error()))
			}
			if after := snapshot(st); len(after) != len(before) {
				t.Fatalf("refused %s (%v) but the storage changed", req.Op, err)
			} else {
				for k, v := range before {
					if after[k] != v {
						t.Fatalf("refused %s (%v) but changed %s", req.Op, err, k)
					}
				}
			}
			return
		}
		if resp == nil {
			t.Fatalf("%s: no reply and no error", req.Op)
		}
		var size int
		for i, o := range resp.Objects {
			for _, e := range o.Entries {
				if i > 0 {
					size += len(e.Value)
				}
			}
		}
		if size > 1<<10 {
			t.Fatalf("%s: a reply of %d value bytes past its first object, over the 1 KiB budget", req.Op, size)
		}
		if _, err := ResponseFromPB(ResponseToPB(resp)); err != nil {
			t.Fatalf("%s: the reply does not convert back: %v", req.Op, err)
		}
	})
}
