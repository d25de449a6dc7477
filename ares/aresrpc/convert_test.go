package aresrpc

import (
	"reflect"
	"strings"
	"testing"

	"github.com/ares-torture/torture/ares"
	pb "github.com/ares-torture/torture/ares/aresrpc/aresv1"
	"google.golang.org/protobuf/proto"
)

func cfg(id uint64, dap ares.DAP, k int, ids ...string) *ares.Config {
	c := &ares.Config{ID: id, DAP: dap, K: k}
	for _, s := range ids {
		c.Servers = append(c.Servers, ares.Node{ID: s, Addr: s + ":7001"})
	}
	return c
}

func fullRequest() *ares.Request {
	return &ares.Request{
		ID:       42,
		Op:       ares.OpPutData,
		Config:   3,
		DAP:      ares.EC,
		Keys:     []string{"a", "", "ключ"},
		AllKeys:  true,
		After:    "k0",
		TagsOnly: true,
		Items: []ares.Item{
			{Key: "a", Tag: ares.Tag{TS: 7, WID: "w1"}, Value: []byte{0, 1, 2}},
			{Key: "b", Tag: ares.Tag{}, Value: nil},
		},
		Next:      ares.NextC{Cfg: cfg(4, ares.EC, 3, "s1", "s2", "s3", "s4", "s5"), Status: ares.Pending},
		Ballot:    ares.Ballot{N: 9, Proposer: "r1"},
		Value:     cfg(5, ares.EC, 1, "s6", "s7"),
		Digest:    cfg(3, ares.EC, 2, "s1", "s2", "s3").Digest(),
		Described: cfg(3, ares.EC, 2, "s1", "s2", "s3"),
	}
}

func fullResponse() *ares.Response {
	return &ares.Response{
		ID:        42,
		From:      "s2",
		Next:      ares.NextC{Cfg: cfg(1, ares.EC, 2, "s1", "s2", "s3"), Status: ares.Finalized},
		Collected: true,
		More:      true,
		Tags:      []ares.Tag{{TS: 1, WID: "x"}, {}},
		Objects: []ares.Object{
			{Key: "a", Entries: []ares.Entry{
				{Tag: ares.Tag{TS: 2, WID: "w"}, HasValue: true, Value: []byte("v")},
				{Tag: ares.Tag{TS: 1, WID: "w"}, HasValue: false},
			}, Floor: ares.Tag{TS: 1, WID: "old"}},
			{Key: "empty"},
		},
		OK:             true,
		Promised:       ares.Ballot{N: 3, Proposer: "p"},
		AcceptedBallot: ares.Ballot{N: 2, Proposer: "q"},
		Accepted:       cfg(2, ares.EC, 1, "s1", "s2"),
	}
}

// wire sends m through a real marshal and unmarshal.
func wire[T proto.Message](t *testing.T, m T, into T) T {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if err := proto.Unmarshal(b, into); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return into
}

func TestRequestRoundTrip(t *testing.T) {
	for name, in := range map[string]*ares.Request{
		"full":  fullRequest(),
		"zero":  {},
		"query": {ID: 1, Op: ares.OpQueryTag, Config: 0, DAP: ares.ABD, Keys: []string{"k"}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := RequestFromPB(wire(t, RequestToPB(in), &pb.Request{}))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, in) {
				t.Fatalf("round trip changed the request:\n got %+v\nwant %+v", got, in)
			}
		})
	}
}

func TestResponseRoundTrip(t *testing.T) {
	for name, in := range map[string]*ares.Response{
		"full": fullResponse(),
		"zero": {},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ResponseFromPB(wire(t, ResponseToPB(in), &pb.Response{}))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, in) {
				t.Fatalf("round trip changed the response:\n got %+v\nwant %+v", got, in)
			}
		})
	}
}

// notOnTheWire are the fields of the ares messages that never travel:
// Entry.Size lives in the server's metadata only.
var notOnTheWire = map[string]bool{"Entry.Size": true}

// TestFixturesSetEveryField makes a field added to the ares messages fail
// the round-trip tests until the conversions (and the fixtures) carry it:
// every field of the full fixtures, down through slices and pointers, must
// be non-zero.
func TestFixturesSetEveryField(t *testing.T) {
	for name, v := range map[string]any{"request": fullRequest(), "response": fullResponse()} {
		var walk func(path string, v reflect.Value)
		walk = func(path string, v reflect.Value) {
			switch v.Kind() {
			case reflect.Pointer:
				if v.IsNil() {
					t.Errorf("%s: %s is nil in the fixture", name, path)
					return
				}
				walk(path, v.Elem())
			case reflect.Struct:
				for i := range v.NumField() {
					f := v.Type().Field(i)
					if !f.IsExported() || notOnTheWire[v.Type().Name()+"."+f.Name] {
						continue
					}
					if v.Field(i).IsZero() {
						t.Errorf("%s: field %s.%s is zero in the fixture; set it so the round trip covers it", name, path, f.Name)
						continue
					}
					walk(path+"."+f.Name, v.Field(i))
				}
			case reflect.Slice:
				// The first element must be full (the others may show
				// edge cases such as zero tags).
				if v.Len() > 0 && v.Type().Elem().Kind() == reflect.Struct {
					walk(path+"[0]", v.Index(0))
				}
			}
		}
		walk(name, reflect.ValueOf(v))
	}
}

// An empty value comes back as an empty (nil) slice, and HasValue survives.
func TestEmptyValueRoundTrip(t *testing.T) {
	in := &ares.Response{Objects: []ares.Object{{Key: "k", Entries: []ares.Entry{{Tag: ares.Tag{TS: 1}, HasValue: true, Value: []byte{}}}}}}
	got, err := ResponseFromPB(wire(t, ResponseToPB(in), &pb.Response{}))
	if err != nil {
		t.Fatal(err)
	}
	e := got.Objects[0].Entries[0]
	if !e.HasValue || len(e.Value) != 0 {
		t.Fatalf("entry = %+v", e)
	}
}

func TestConfigRoundTrip(t *testing.T) {
	for _, c := range []*ares.Config{nil, {}, cfg(7, ares.EC, 3, "a", "b", "c", "d", "e")} {
		got, err := ConfigFromPB(wire(t, ConfigToPB(c), &pb.Config{}))
		if c == nil {
			// A nil message marshals to nothing and reads back as empty.
			got, err = ConfigFromPB(ConfigToPB(c))
		}
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("config %v came back as %v", c, got)
		}
	}
}

// TestEnumsMatchAres guards against ares.Op or ares.Status changing without
// the .proto following: the numbers are cast directly.
func TestEnumsMatchAres(t *testing.T) {
	for n, name := range pb.Op_name {
		want := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, "OP_")), "_", "-")
		if got := ares.Op(n).String(); got != want {
			t.Errorf("proto op %d is %s, ares op %d is %s", n, name, n, got)
		}
	}
	if got := ares.Op(len(pb.Op_name)).String(); !strings.HasPrefix(got, "op(") {
		t.Errorf("ares has op %d (%s) that the .proto lacks", len(pb.Op_name), got)
	}
	for st, want := range map[ares.Status]pb.Status{ares.None: pb.Status_STATUS_NONE, ares.Pending: pb.Status_STATUS_PENDING, ares.Finalized: pb.Status_STATUS_FINALIZED} {
		if int32(st) != int32(want) {
			t.Errorf("status %v = %d, proto %v = %d", st, st, want, want)
		}
	}
}

func TestMalformedFromPB(t *testing.T) {
	bad := []*pb.Request{
		nil,
		{Op: pb.Op(300)},
		{Op: pb.Op(-1)},
		{Next: &pb.NextC{Status: pb.Status(999)}},
		{Next: &pb.NextC{Cfg: &pb.Config{Servers: []*pb.Node{nil}}}},
		{Value: &pb.Config{K: 1 << 40}},
		{Items: []*pb.Item{nil}},
	}
	for i, r := range bad {
		if _, err := RequestFromPB(r); err == nil {
			t.Errorf("bad request %d accepted", i)
		}
	}
	badResp := []*pb.Response{
		nil,
		{Objects: []*pb.Object{nil}},
		{Objects: []*pb.Object{{Entries: []*pb.Entry{nil}}}},
		{Accepted: &pb.Config{K: -1 << 40}},
	}
	for i, r := range badResp {
		if _, err := ResponseFromPB(r); err == nil {
			t.Errorf("bad response %d accepted", i)
		}
	}
}

// FuzzRequestFromPB feeds arbitrary bytes through unmarshal and conversion:
// they must never panic, and a converted request must convert back to
// itself.
func FuzzRequestFromPB(f *testing.F) {
	b, err := proto.Marshal(RequestToPB(fullRequest()))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var m pb.Request
		if proto.Unmarshal(data, &m) != nil {
			return
		}
		r, err := RequestFromPB(&m)
		if err != nil {
			return
		}
		again, err := RequestFromPB(RequestToPB(r))
		if err != nil {
			t.Fatalf("converted request does not convert back: %v", err)
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("conversion is not stable:\n%+v\n%+v", again, r)
		}
	})
}
