// Package ares implements the ARES II reconfigurable atomic storage protocol:
// tags, configurations, the ABD and EC data access primitives, the
// reconfiguration service and the reader/writer/reconfigurer clients.
//
// The package does no I/O of its own. Clients talk to servers through a
// Transport, and a Server is a message handler that keeps its durable state
// through a Storage, so the same code runs over gRPC, over the in-memory
// network of the tests, and through fault-injecting links.
package ares

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Tag orders the versions of one object: by TS, then by writer id.
type Tag struct {
	TS  uint64
	WID string
}

// Less reports whether t orders before o.
func (t Tag) Less(o Tag) bool {
	if t.TS != o.TS {
		return t.TS < o.TS
	}
	return t.WID < o.WID
}

// Compare returns -1, 0 or 1 as t is before, equal to, or after o.
func (t Tag) Compare(o Tag) int {
	switch {
	case t.Less(o):
		return -1
	case o.Less(t):
		return 1
	}
	return 0
}

// IsZero reports whether t is the initial tag t0.
func (t Tag) IsZero() bool { return t.TS == 0 && t.WID == "" }

func (t Tag) String() string { return fmt.Sprintf("<%d,%s>", t.TS, t.WID) }

// MaxTag returns the larger of two tags.
func MaxTag(a, b Tag) Tag {
	if a.Less(b) {
		return b
	}
	return a
}

// DAP names a data access primitive.
type DAP string

// The two data access primitives of ARES.
const (
	ABD DAP = "abd"
	EC  DAP = "ec"
)

// Node names one storage server and where it listens.
type Node struct {
	ID   string
	Addr string
}

// Config is one configuration of the global sequence.
type Config struct {
	// ID is the configuration's index in the sequence (0 for the initial one).
	ID      uint64
	Servers []Node
	DAP     DAP
	// K is the Reed-Solomon data shard count for EC (unused for ABD).
	K int
}

// N is the number of servers.
func (c *Config) N() int { return len(c.Servers) }

// Quorum is the number of replies a DAP phase waits for: a majority for ABD,
// ⌈(n+k)/2⌉ for EC, so that any two EC quorums share at least k servers.
func (c *Config) Quorum() int {
	n := c.N()
	if c.DAP == EC {
		return (n + c.K + 1) / 2
	}
	return n/2 + 1
}

// Majority is the quorum of the configuration's consensus instance and of its
// configuration pointers (read-config, write-config, GC).
func (c *Config) Majority() int { return c.N()/2 + 1 }

// Index returns the position of server id in the configuration, or -1. For EC
// it is the index of the coded element that server holds.
func (c *Config) Index(id string) int {
	for i, s := range c.Servers {
		if s.ID == id {
			return i
		}
	}
	return -1
}

// Equal reports whether two configurations are the same.
func (c *Config) Equal(o *Config) bool {
	if c == nil || o == nil {
		return c == o
	}
	if c.ID != o.ID || c.DAP != o.DAP || c.K != o.K || len(c.Servers) != len(o.Servers) {
		return false
	}
	for i := range c.Servers {
		if c.Servers[i] != o.Servers[i] {
			return false
		}
	}
	return true
}

// Clone returns a deep copy.
func (c *Config) Clone() *Config {
	if c == nil {
		return nil
	}
	d := *c
	d.Servers = append([]Node(nil), c.Servers...)
	return &d
}

func (c *Config) String() string {
	ids := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		ids[i] = s.ID
	}
	return fmt.Sprintf("c%d[%s %s]", c.ID, strings.Join(ids, ","), c.Kind())
}

// Kind names how the configuration stores data: "abd", or "ec(n,k)".
func (c *Config) Kind() string {
	if c.DAP == EC {
		return fmt.Sprintf("ec(%d,%d)", c.N(), c.K)
	}
	return string(c.DAP)
}

// Digest names the configuration's contents: the first 16 bytes, in hex,
// of a SHA-256 over its members (ids and addresses, in order: a server's
// position is its EC element index), its DAP and k (for EC; ABD does not
// use it). The index is not part
// of it; requests carry the index beside the digest. Two clients that
// agree on an index but not on what it holds (another DAP, k or member
// list) send different digests, and a server that recorded the other one
// refuses, instead of serving data it stored under another layout.
func (c *Config) Digest() string {
	h := sha256.New()
	// Every field is length-prefixed, so no two configurations encode
	// alike (an id ending in what would be the next field, say).
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field("ares-config/v1")
	field(string(c.DAP))
	var k [8]byte
	if c.DAP != ABD { // ABD does not use k: clients may leave any there
		binary.BigEndian.PutUint64(k[:], uint64(int64(c.K)))
	}
	h.Write(k[:])
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(c.Servers)))
	h.Write(n[:])
	for _, s := range c.Servers {
		field(s.ID)
		field(s.Addr)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Describe is the configuration without its index, as a target is named
// before it has one.
func (c *Config) Describe() string {
	s := c.String()
	return s[strings.IndexByte(s, '['):]
}

// Validate checks that the configuration is usable: a non-empty set of
// distinct servers with ids and addresses, a known DAP, and 1 ≤ k < n for EC.
func (c *Config) Validate() error {
	if len(c.Servers) == 0 {
		return errors.New("configuration has no servers")
	}
	ids := map[string]bool{}
	addrs := map[string]bool{}
	for _, s := range c.Servers {
		if s.ID == "" {
			return errors.New("configuration has a server with an empty id")
		}
		if s.Addr == "" {
			return fmt.Errorf("server %s has no address", s.ID)
		}
		if ids[s.ID] {
			return fmt.Errorf("server id %s appears twice", s.ID)
		}
		if addrs[s.Addr] {
			return fmt.Errorf("address %s appears twice", s.Addr)
		}
		ids[s.ID], addrs[s.Addr] = true, true
	}
	switch c.DAP {
	case ABD:
	case EC:
		if c.K < 1 || c.K >= c.N() {
			return fmt.Errorf("ec needs 1 <= k < n, got k=%d n=%d", c.K, c.N())
		}
	default:
		return fmt.Errorf("unknown dap %q (want abd or ec)", c.DAP)
	}
	return nil
}

// ParseServers parses "ID=ADDR,ID=ADDR,...".
func ParseServers(s string) ([]Node, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty server list")
	}
	var out []Node
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		id, addr, ok := strings.Cut(part, "=")
		if !ok || id == "" || addr == "" {
			return nil, fmt.Errorf("malformed server %q: want ID=HOST:PORT", part)
		}
		if !strings.Contains(addr, ":") {
			return nil, fmt.Errorf("malformed address %q for server %s: want HOST:PORT", addr, id)
		}
		out = append(out, Node{ID: id, Addr: addr})
	}
	return out, nil
}

// Status is the state of a configuration pointer.
type Status uint8

// Pointer states: a pointer only moves None -> Pending -> Finalized.
const (
	None Status = iota
	Pending
	Finalized
)

func (s Status) String() string {
	switch s {
	case Pending:
		return "P"
	case Finalized:
		return "F"
	}
	return "⊥"
}

// NextC is a server's pointer to the successor of a configuration: ⊥ when
// Cfg is nil.
type NextC struct {
	Cfg    *Config
	Status Status
}

// IsNone reports whether the pointer is ⊥.
func (n NextC) IsNone() bool { return n.Cfg == nil || n.Status == None }

// better reports whether pointer x should replace cur at a server: ⊥ -> P ->
// F for the same successor, or any pointer to a later configuration (GC
// forwards old configurations straight to the last finalized one).
func (cur NextC) better(x NextC) bool {
	if x.IsNone() {
		return false
	}
	if cur.IsNone() {
		return true
	}
	if x.Cfg.ID != cur.Cfg.ID {
		return x.Cfg.ID > cur.Cfg.ID && x.Status >= cur.Status
	}
	return x.Status > cur.Status && x.Cfg.Equal(cur.Cfg)
}
