package ares

import (
	"context"
	"fmt"
)

// Op is the kind of a request.
type Op uint8

// Request kinds. Every request is idempotent, so a client may send it again
// after a loss and a server may see it twice.
const (
	OpInvalid     Op = iota
	OpQueryTag       // get-tag: the tag of each key in Keys
	OpQueryData      // get-data: the state of each key in Keys (or every key, AllKeys)
	OpPutData        // put-data: store each item of Items
	OpReadConfig     // READ-CONFIG: the nextC of Config
	OpWriteConfig    // WRITE-CONFIG(Next)
	OpGCConfig       // GC-CONFIG(Next): forward to Next and drop data elements
	OpPrepare        // Paxos phase 1 for Config's consensus instance
	OpAccept         // Paxos phase 2
)

var opNames = [...]string{"invalid", "query-tag", "query-data", "put-data", "read-config", "write-config", "gc-config", "prepare", "accept"}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", o)
}

// Ballot orders Paxos proposals: by N, then by proposer id.
type Ballot struct {
	N        uint64
	Proposer string
}

// Less reports whether b orders before o.
func (b Ballot) Less(o Ballot) bool {
	if b.N != o.N {
		return b.N < o.N
	}
	return b.Proposer < o.Proposer
}

// Item is one object's tag and value (ABD) or coded element (EC) in a
// put-data.
type Item struct {
	Key   string
	Tag   Tag
	Value []byte
}

// Entry is one version a server holds of an object. HasValue is false for
// an EC entry whose element was trimmed (δ) or garbage collected, and for
// tag-only replies.
type Entry struct {
	Tag      Tag
	HasValue bool
	Value    []byte
	// Size is the value's length as the server stored it, kept in the
	// server's metadata so that a reply's byte budget is checked before
	// the value is read; not sent (0 in entries stored before it existed).
	Size int64 `json:",omitempty"`
}

// Object is a server's state of one key in one configuration: for ABD a
// single entry, for EC the list of the spec, newest last.
type Object struct {
	Key     string
	Entries []Entry
	// Floor is the largest tag an EC server dropped from the list to bound
	// it; the list may have held any tag up to it.
	Floor Tag
}

// valueBytes is the size of the values o carries.
func (o *Object) valueBytes() int64 {
	var n int64
	for _, e := range o.Entries {
		n += int64(len(e.Value))
	}
	return n
}

// Request is a message from a client to a server. Config is the index of the
// configuration the request is about; DAP tells the server how that
// configuration stores data.
type Request struct {
	ID     uint64 // matches a reply to its request on transports that need it
	Op     Op
	Config uint64
	DAP    DAP
	// Digest is the Digest of the configuration the client means by
	// index Config, and Described that configuration in full. A server
	// refuses a request whose description is malformed, does not name
	// it, or differs from the configuration it recorded under that
	// index; the first request that changes state records it (servers
	// new to a configuration learn it from the update-config that
	// fills them, so the request is the only place they can). Clients
	// fill both for every request (Client.quorum).
	Digest    string
	Described *Config
	// Keys names the objects of a query; AllKeys asks for every object the
	// server holds in Config (batched state transfer), in key order from
	// the first key after After, one page at a time (Response.More).
	Keys    []string
	AllKeys bool
	After   string
	// TagsOnly asks a server whose nextC is finalized to leave out values
	// (ARES II piggyback on EC).
	TagsOnly bool
	Items    []Item
	Next     NextC
	Ballot   Ballot
	Value    *Config // Paxos proposal
}

// Response is a server's reply.
type Response struct {
	ID   uint64
	From string
	// Next is the server's nextC for the request's configuration; clients
	// with piggyback on follow it.
	Next NextC
	// Collected is true when the configuration was garbage collected here:
	// its data is gone and Next forwards to a finalized successor.
	Collected bool
	Tags      []Tag    // OpQueryTag, in the order of Keys
	Objects   []Object // OpQueryData
	// More says an AllKeys reply stopped at its byte budget: the server
	// holds keys after the last object's, to be asked for with After.
	More bool
	// Paxos replies.
	OK             bool
	Promised       Ballot
	AcceptedBallot Ballot
	Accepted       *Config
}

// Transport carries one request to one server and returns its reply. A lost
// message shows as an error or as a call that lasts until ctx ends; callers
// retry, which is safe because every request is idempotent.
type Transport interface {
	Call(ctx context.Context, to Node, req *Request) (*Response, error)
}

// Handler is what a server offers a transport.
type Handler interface {
	Handle(ctx context.Context, req *Request) (*Response, error)
}
