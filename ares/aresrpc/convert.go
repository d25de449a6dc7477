package aresrpc

import (
	"errors"
	"fmt"
	"math"

	"github.com/ares-torture/torture/ares"
	pb "github.com/ares-torture/torture/ares/aresrpc/aresv1"
)

// The conversions map a nil message to the zero value and back to nil where
// the Go side has a pointer. Byte slices are shared, not copied: a 64 MiB
// value is copied once by the marshaller, not again here (and through
// Stream, by chunks: stream.go moves large values out of the messages
// after ToPB and back in before FromPB). proto3 does not
// tell an empty bytes field from an absent one, so an empty value comes back
// as nil; ares tells "no value" by Entry.HasValue, never by nil.

// TagToPB converts a tag.
func TagToPB(t ares.Tag) *pb.Tag { return &pb.Tag{Ts: t.TS, Wid: t.WID} }

// TagFromPB converts a tag; nil is t0.
func TagFromPB(t *pb.Tag) ares.Tag { return ares.Tag{TS: t.GetTs(), WID: t.GetWid()} }

// BallotToPB converts a ballot.
func BallotToPB(b ares.Ballot) *pb.Ballot { return &pb.Ballot{N: b.N, Proposer: b.Proposer} }

// BallotFromPB converts a ballot; nil is the zero ballot.
func BallotFromPB(b *pb.Ballot) ares.Ballot {
	return ares.Ballot{N: b.GetN(), Proposer: b.GetProposer()}
}

// ConfigToPB converts a configuration; nil stays nil.
func ConfigToPB(c *ares.Config) *pb.Config {
	if c == nil {
		return nil
	}
	out := &pb.Config{Id: c.ID, Dap: string(c.DAP), K: int64(c.K)}
	if len(c.Servers) > 0 {
		out.Servers = make([]*pb.Node, len(c.Servers))
		for i, s := range c.Servers {
			out.Servers[i] = &pb.Node{Id: s.ID, Addr: s.Addr}
		}
	}
	return out
}

// ConfigFromPB converts a configuration; nil stays nil.
func ConfigFromPB(c *pb.Config) (*ares.Config, error) {
	if c == nil {
		return nil, nil
	}
	// K is an int on the Go side: refuse what would not fit on 32-bit.
	if c.GetK() < math.MinInt32 || c.GetK() > math.MaxInt32 {
		return nil, fmt.Errorf("config %d: k=%d out of range", c.GetId(), c.GetK())
	}
	out := &ares.Config{ID: c.GetId(), DAP: ares.DAP(c.GetDap()), K: int(c.GetK())}
	if len(c.GetServers()) > 0 {
		out.Servers = make([]ares.Node, len(c.GetServers()))
		for i, s := range c.GetServers() {
			if s == nil {
				return nil, fmt.Errorf("config %d: server %d is null", c.GetId(), i)
			}
			out.Servers[i] = ares.Node{ID: s.GetId(), Addr: s.GetAddr()}
		}
	}
	return out, nil
}

// NextCToPB converts a configuration pointer; ⊥ with no configuration is nil.
func NextCToPB(n ares.NextC) *pb.NextC {
	if n.Cfg == nil && n.Status == ares.None {
		return nil
	}
	return &pb.NextC{Cfg: ConfigToPB(n.Cfg), Status: pb.Status(n.Status)}
}

// NextCFromPB converts a configuration pointer; nil is ⊥.
func NextCFromPB(n *pb.NextC) (ares.NextC, error) {
	if n == nil {
		return ares.NextC{}, nil
	}
	st := n.GetStatus()
	if st < 0 || st > math.MaxUint8 {
		return ares.NextC{}, fmt.Errorf("nextC: status %d out of range", st)
	}
	cfg, err := ConfigFromPB(n.GetCfg())
	if err != nil {
		return ares.NextC{}, fmt.Errorf("nextC: %w", err)
	}
	return ares.NextC{Cfg: cfg, Status: ares.Status(st)}, nil
}

func opFromPB(op pb.Op) (ares.Op, error) {
	if op < 0 || op > math.MaxUint8 {
		return ares.OpInvalid, fmt.Errorf("op %d out of range", op)
	}
	return ares.Op(op), nil
}

// RequestToPB converts a request.
func RequestToPB(r *ares.Request) *pb.Request {
	if r == nil {
		return nil
	}
	out := &pb.Request{
		Id:        r.ID,
		Op:        pb.Op(r.Op),
		Config:    r.Config,
		Dap:       string(r.DAP),
		Keys:      r.Keys,
		AllKeys:   r.AllKeys,
		After:     r.After,
		TagsOnly:  r.TagsOnly,
		Next:      NextCToPB(r.Next),
		Value:     ConfigToPB(r.Value),
		Digest:    r.Digest,
		Described: ConfigToPB(r.Described),
	}
	if r.Ballot != (ares.Ballot{}) {
		out.Ballot = BallotToPB(r.Ballot)
	}
	if len(r.Items) > 0 {
		out.Items = make([]*pb.Item, len(r.Items))
		for i, it := range r.Items {
			out.Items[i] = &pb.Item{Key: it.Key, Tag: TagToPB(it.Tag), Value: it.Value}
		}
	}
	return out
}

// RequestFromPB converts a request, refusing malformed ones.
func RequestFromPB(r *pb.Request) (*ares.Request, error) {
	if r == nil {
		return nil, errors.New("null request")
	}
	op, err := opFromPB(r.GetOp())
	if err != nil {
		return nil, fmt.Errorf("request %d: %w", r.GetId(), err)
	}
	next, err := NextCFromPB(r.GetNext())
	if err != nil {
		return nil, fmt.Errorf("request %d: %w", r.GetId(), err)
	}
	val, err := ConfigFromPB(r.GetValue())
	if err != nil {
		return nil, fmt.Errorf("request %d: value: %w", r.GetId(), err)
	}
	desc, err := ConfigFromPB(r.GetDescribed())
	if err != nil {
		return nil, fmt.Errorf("request %d: described: %w", r.GetId(), err)
	}
	out := &ares.Request{
		ID:        r.GetId(),
		Op:        op,
		Config:    r.GetConfig(),
		DAP:       ares.DAP(r.GetDap()),
		Keys:      r.GetKeys(),
		AllKeys:   r.GetAllKeys(),
		After:     r.GetAfter(),
		TagsOnly:  r.GetTagsOnly(),
		Next:      next,
		Ballot:    BallotFromPB(r.GetBallot()),
		Value:     val,
		Digest:    r.GetDigest(),
		Described: desc,
	}
	if len(r.GetItems()) > 0 {
		out.Items = make([]ares.Item, len(r.GetItems()))
		for i, it := range r.GetItems() {
			if it == nil {
				return nil, fmt.Errorf("request %d: item %d is null", r.GetId(), i)
			}
			out.Items[i] = ares.Item{Key: it.GetKey(), Tag: TagFromPB(it.GetTag()), Value: it.GetValue()}
		}
	}
	return out, nil
}

// ResponseToPB converts a response.
func ResponseToPB(r *ares.Response) *pb.Response {
	if r == nil {
		return nil
	}
	out := &pb.Response{
		Id:        r.ID,
		From:      r.From,
		Next:      NextCToPB(r.Next),
		Collected: r.Collected,
		More:      r.More,
		Ok:        r.OK,
		Accepted:  ConfigToPB(r.Accepted),
	}
	if r.Promised != (ares.Ballot{}) {
		out.Promised = BallotToPB(r.Promised)
	}
	if r.AcceptedBallot != (ares.Ballot{}) {
		out.AcceptedBallot = BallotToPB(r.AcceptedBallot)
	}
	if len(r.Tags) > 0 {
		out.Tags = make([]*pb.Tag, len(r.Tags))
		for i, t := range r.Tags {
			out.Tags[i] = TagToPB(t)
		}
	}
	if len(r.Objects) > 0 {
		out.Objects = make([]*pb.Object, len(r.Objects))
		for i, o := range r.Objects {
			po := &pb.Object{Key: o.Key}
			if !o.Floor.IsZero() {
				po.Floor = TagToPB(o.Floor)
			}
			if len(o.Entries) > 0 {
				po.Entries = make([]*pb.Entry, len(o.Entries))
				for j, e := range o.Entries {
					po.Entries[j] = &pb.Entry{Tag: TagToPB(e.Tag), HasValue: e.HasValue, Value: e.Value}
				}
			}
			out.Objects[i] = po
		}
	}
	return out
}

// ResponseFromPB converts a response, refusing malformed ones.
func ResponseFromPB(r *pb.Response) (*ares.Response, error) {
	if r == nil {
		return nil, errors.New("null response")
	}
	next, err := NextCFromPB(r.GetNext())
	if err != nil {
		return nil, fmt.Errorf("response %d: %w", r.GetId(), err)
	}
	acc, err := ConfigFromPB(r.GetAccepted())
	if err != nil {
		return nil, fmt.Errorf("response %d: accepted: %w", r.GetId(), err)
	}
	out := &ares.Response{
		ID:             r.GetId(),
		From:           r.GetFrom(),
		Next:           next,
		Collected:      r.GetCollected(),
		More:           r.GetMore(),
		OK:             r.GetOk(),
		Promised:       BallotFromPB(r.GetPromised()),
		AcceptedBallot: BallotFromPB(r.GetAcceptedBallot()),
		Accepted:       acc,
	}
	if len(r.GetTags()) > 0 {
		out.Tags = make([]ares.Tag, len(r.GetTags()))
		for i, t := range r.GetTags() {
			out.Tags[i] = TagFromPB(t)
		}
	}
	if len(r.GetObjects()) > 0 {
		out.Objects = make([]ares.Object, len(r.GetObjects()))
		for i, o := range r.GetObjects() {
			if o == nil {
				return nil, fmt.Errorf("response %d: object %d is null", r.GetId(), i)
			}
			obj := ares.Object{Key: o.GetKey(), Floor: TagFromPB(o.GetFloor())}
			if len(o.GetEntries()) > 0 {
				obj.Entries = make([]ares.Entry, len(o.GetEntries()))
				for j, e := range o.GetEntries() {
					if e == nil {
						return nil, fmt.Errorf("response %d: object %q entry %d is null", r.GetId(), o.GetKey(), j)
					}
					obj.Entries[j] = ares.Entry{Tag: TagFromPB(e.GetTag()), HasValue: e.GetHasValue(), Value: e.GetValue()}
				}
			}
			out.Objects[i] = obj
		}
	}
	return out, nil
}
