package ares

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Bug names a protocol bug that can be switched on to show the checker
// catching a real violation. None is ever on by default.
type Bug string

// Known bugs. Client bugs act in Client, server bugs in Server.
const (
	// BugNoWriteBack: reads skip phase 2 (the write-back), so two reads can
	// see a write in the wrong order (client).
	BugNoWriteBack Bug = "no-write-back"
	// BugShortQuorum: every quorum waits for one reply fewer than it must,
	// so a read can miss a completed write (client).
	BugShortQuorum Bug = "short-quorum"
	// BugNoTagCheck: a server overwrites its value on put-data even with an
	// older tag, so a slow write can erase a newer one (server).
	BugNoTagCheck Bug = "no-tag-check"
	// BugVolatile: a server acknowledges writes it keeps only in memory, so
	// a kill and restart forgets acknowledged state (server).
	BugVolatile Bug = "volatile"
	// BugReuseTag: writers do not raise the timestamp they found, so two
	// writes can carry the same tag with different values (client).
	BugReuseTag Bug = "reuse-tag"
	// BugRetrySameTag: a writer keeps no memory of the timestamps it
	// issued and its writer id is its bare name, so after a write that
	// reached only a minority, the next write by a client of that name
	// can miss it and issue the same tag with another value (client).
	BugRetrySameTag Bug = "retry-same-tag"
	// BugNoSync: a server acknowledges writes its storage has taken but
	// not yet synced to disk (Unsynced.ApplyUnsynced), so a power loss,
	// though not a kill that leaves the page cache, loses acknowledged
	// state (server).
	BugNoSync Bug = "no-sync"
	// BugCoverTSOnly: a coverable write compares its base with the latest
	// version by timestamp only, so a version another writer made with the
	// same timestamp passes for its base and gets overwritten (client).
	BugCoverTSOnly Bug = "cover-ts-only"
	// BugLinkFirst: a fragmented file's write links the predecessor to its
	// new blocks before writing them, so a reader can follow a link to a
	// block that does not exist yet (package fragment).
	BugLinkFirst Bug = "link-before-write"
)

// Bugs lists every known bug with a one-line description.
var Bugs = []struct {
	Name        Bug
	Server      bool
	Description string
}{
	{BugNoWriteBack, false, "reads skip the write-back phase"},
	{BugShortQuorum, false, "every quorum is one reply short"},
	{BugNoTagCheck, true, "servers overwrite values with older tags"},
	{BugVolatile, true, "servers acknowledge writes they keep only in memory"},
	{BugReuseTag, false, "writers reuse the largest tag they saw instead of raising it"},
	{BugRetrySameTag, false, "a renewed writer forgets its issued tags and reuses its writer id"},
	{BugNoSync, true, "servers acknowledge writes before their storage synced them"},
	{BugCoverTSOnly, false, "coverable writes compare versions by timestamp only"},
	{BugLinkFirst, false, "file writes link a predecessor before its new block is written"},
}

// ParseBug checks a bug name ("" is no bug).
func ParseBug(s string) (Bug, error) {
	if s == "" {
		return "", nil
	}
	var names []string
	for _, b := range Bugs {
		if string(b.Name) == s {
			return b.Name, nil
		}
		names = append(names, string(b.Name))
	}
	return "", fmt.Errorf("unknown bug %q (known: %s)", s, strings.Join(names, ", "))
}

// ServerOptions configure a Server.
type ServerOptions struct {
	ID string
	// Delta bounds how many EC elements a server keeps per object (δ+1);
	// the spec's bound on writes concurrent with a read. Default 5.
	Delta int
	// MaxReplyBytes bounds the values a get-data reply carries per
	// object: the newest value always goes, older EC elements only while
	// the object's values stay within it; the rest go as tags only.
	// Default DefaultMaxReplyBytes.
	MaxReplyBytes int64
	Bug           Bug
	Logger        *slog.Logger
	// Tracer receives a span per request handled (trace.go); nil: none.
	Tracer trace.Tracer
	// Initial, if set, is configuration 0 as the server's operator knows
	// it (index 0, listing the server). Requests that name configuration
	// 0 otherwise are refused from the start, queries too; without it,
	// the first request that changes configuration 0's state here fixes
	// what it is. A data directory that recorded another configuration 0
	// is an error of NewServer.
	Initial *Config
}

// DefaultMaxReplyBytes keeps a reply for one object of δ+1 elements of a
// 64 MiB value with k=1 (each element the whole value) within the 256 MiB
// a gRPC message may carry (aresrpc.MaxMsgSize). A reply for every object
// (update-config's transfer) is not bounded by it.
const DefaultMaxReplyBytes = 160 << 20

// ClientOptions configure a Client.
type ClientOptions struct {
	// ID is the client's name; writer ids add a random suffix per Client
	// (NewClient, Renew) so that they are never reused across restarts.
	ID string
	// Initial is the configuration with index 0.
	Initial   *Config
	Transport Transport
	// PB and GC switch on the ARES II piggyback and garbage collection.
	PB, GC bool
	// Thrifty sends the requests of reads and writes to a quorum first,
	// and to one more server each time one of those fails or the quorum
	// is late (thrifty.go). Off: every server is asked at once.
	Thrifty bool
	// Retry is how long a request waits for a reply before it is sent
	// again to a server that has not answered. Default 200ms.
	Retry time.Duration
	// DecodeRetries bounds the EC get-data retries when the newest tag is
	// not yet decodable. Default 10.
	DecodeRetries int
	Bug           Bug
	Logger        *slog.Logger
	// Tracer receives the client's spans (trace.go); nil: none.
	Tracer trace.Tracer
	// Rand is the source of the client's random choices (writer id
	// suffixes, Paxos back-off). Nil is crypto/rand; a seeded source makes
	// a run under a deterministic scheduler repeatable.
	Rand io.Reader
}

// SeqEntry is one configuration of a client's sequence with its status.
type SeqEntry struct {
	Cfg    *Config
	Status Status
}
