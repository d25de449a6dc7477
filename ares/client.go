package ares

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// seq is a client's cseq: configurations in index order with their status.
// After garbage collection it may have gaps.
type seq []SeqEntry

func (s seq) clone() seq {
	out := make(seq, len(s))
	for i, e := range s {
		out[i] = SeqEntry{Cfg: e.Cfg.Clone(), Status: e.Status}
	}
	return out
}

// lastF is the position of the last finalized configuration (μ).
func (s seq) lastF() int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i].Status == Finalized {
			return i
		}
	}
	return 0
}

func (s seq) last() *Config { return s[len(s)-1].Cfg }

// find returns the position of configuration id, or -1.
func (s seq) find(id uint64) int {
	i := sort.Search(len(s), func(i int) bool { return s[i].Cfg.ID >= id })
	if i < len(s) && s[i].Cfg.ID == id {
		return i
	}
	return -1
}

// add records pointer x; it reports whether s learned something.
func (s *seq) add(x NextC) bool {
	if x.IsNone() {
		return false
	}
	if i := s.find(x.Cfg.ID); i >= 0 {
		if (*s)[i].Status < x.Status {
			(*s)[i].Status = x.Status
			return true
		}
		return false
	}
	*s = append(*s, SeqEntry{Cfg: x.Cfg.Clone(), Status: x.Status})
	sort.Slice(*s, func(i, j int) bool { return (*s)[i].Cfg.ID < (*s)[j].Cfg.ID })
	return true
}

// Client is a reader, writer and reconfigurer of ARES objects. Its methods
// may be called from several goroutines, at most one operation per key at a
// time.
type Client struct {
	opts   ClientOptions
	wid    string
	log    *slog.Logger
	tracer trace.Tracer

	ballot atomic.Uint64 // the last Paxos ballot number used

	mu      sync.Mutex
	seq     seq
	gcBelow uint64 // entries below it were garbage collected and dropped
	// issued is the last timestamp this client put in a write's tag, per
	// key. A write that timed out may still live on a minority that the
	// next write's get-tag quorum misses; without this the next write
	// could issue the same tag with another value.
	issued map[string]uint64
	// announced is, per configuration index, the pointer this client's
	// last completed put-config (or gc-config) wrote to a majority of
	// that configuration: read-config need not write it back again (see
	// readConfig).
	announced map[uint64]NextC

	th thrifty // whom a thrifty phase asks first (thrifty.go)
}

// NewClient checks the options and returns a client that starts from the
// initial configuration.
func NewClient(opts ClientOptions) (*Client, error) {
	if opts.Initial == nil {
		return nil, errors.New("client needs an initial configuration")
	}
	if err := opts.Initial.Validate(); err != nil {
		return nil, fmt.Errorf("initial configuration: %w", err)
	}
	if opts.Initial.ID != 0 {
		return nil, fmt.Errorf("initial configuration has index %d, want 0", opts.Initial.ID)
	}
	if opts.Transport == nil {
		return nil, errors.New("client needs a transport")
	}
	if opts.Retry <= 0 {
		opts.Retry = 200 * time.Millisecond
	}
	if opts.DecodeRetries <= 0 {
		opts.DecodeRetries = 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	wid, err := writerID(opts)
	if err != nil {
		return nil, err
	}
	c := &Client{opts: opts, log: opts.Logger, tracer: tracerOr(opts.Tracer), wid: wid, issued: map[string]uint64{}, announced: map[uint64]NextC{}}
	c.seq = seq{{Cfg: opts.Initial.Clone(), Status: Finalized}}
	return c, nil
}

// writerID is the client's name with a random suffix, so that no two
// Clients (of one process or across restarts) share a writer id; with
// BugRetrySameTag it is the bare name.
func writerID(opts ClientOptions) (string, error) {
	if opts.Bug == BugRetrySameTag {
		return opts.ID, nil
	}
	var suffix [8]byte
	if _, err := io.ReadFull(opts.random(), suffix[:]); err != nil {
		return "", fmt.Errorf("writer id: %w", err)
	}
	return opts.ID + "-" + hex.EncodeToString(suffix[:]), nil
}

// random returns the client's source of random bytes.
func (o *ClientOptions) random() io.Reader {
	if o.Rand == nil {
		return rand.Reader
	}
	return o.Rand
}

// randN returns a random duration in [0, n) from the client's source.
func (c *Client) randN(n time.Duration) time.Duration {
	var b [8]byte
	if n <= 0 {
		return 0
	}
	if _, err := io.ReadFull(c.opts.random(), b[:]); err != nil {
		return n / 2
	}
	return time.Duration(binary.LittleEndian.Uint64(b[:]) % uint64(n))
}

// Renew returns a new client with c's options and the configuration
// sequence c knows, but a fresh writer id and no memory of issued tags: a
// new process in Jepsen's sense, as after an operation of unknown outcome.
// c stays usable; its operations in flight do not affect the new client.
func (c *Client) Renew() (*Client, error) {
	wid, err := writerID(c.opts)
	if err != nil {
		return nil, err
	}
	n := &Client{opts: c.opts, log: c.log, tracer: c.tracer, wid: wid, issued: map[string]uint64{}, announced: map[uint64]NextC{}}
	c.mu.Lock()
	n.seq, n.gcBelow = c.seq.clone(), c.gcBelow
	c.mu.Unlock()
	return n, nil
}

// WriterID returns the writer id this client puts in its tags.
func (c *Client) WriterID() string { return c.wid }

// Sequence returns the configuration sequence as this client knows it,
// without asking the servers.
func (c *Client) Sequence() []SeqEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq.clone()
}

func (c *Client) snapshot() seq {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq.clone()
}

// merge folds what an operation learned into the client's sequence. Every
// sequence is a prefix of the longest, so this is a union.
func (c *Client) merge(s seq) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range s {
		if e.Cfg.ID >= c.gcBelow {
			c.seq.add(NextC(e))
		}
	}
}

// Configs runs read-config and returns the sequence as this client knows it.
func (c *Client) Configs(ctx context.Context) ([]SeqEntry, error) {
	s := c.snapshot()
	err := c.readConfig(ctx, &s)
	c.merge(s)
	if err != nil {
		return nil, fmt.Errorf("read-config: %w", err)
	}
	return c.Sequence(), nil
}

// readConfig walks the sequence from its last finalized configuration,
// following each configuration's successor pointer; every pointer found is
// written back to a majority of the configuration it came from before the
// walk goes on, so that any later walk finds it too (ARES-SPEC §4
// read-config).
//
// A pointer that this client itself already wrote to a majority of that
// configuration, at the same or a later status, is not written again
// (announced): the write-back's purpose, a majority holding the pointer,
// is met, and it stays met since a server's pointer only moves forward
// (§4: ⊥ → P → F, and with GC, §6, only to a later finalized
// configuration). Sending it again would change no server of that
// majority. In a steady state (no pending configuration) this saves
// nothing; with p pending configurations it saves p write-config rounds
// per read-config after the first (issue 14).
func (c *Client) readConfig(ctx context.Context, s *seq) error {
	cur := (*s)[s.lastF()].Cfg
	for {
		x, err := c.getNextConfig(ctx, cur)
		if err != nil {
			return err
		}
		if x.IsNone() {
			return nil
		}
		if err := c.writeBack(ctx, cur, x); err != nil {
			return err
		}
		s.add(x)
		cur = x.Cfg
	}
}

// writeBack is read-config's put-config of x to cur, unless this client
// already completed it (see readConfig).
func (c *Client) writeBack(ctx context.Context, cur *Config, x NextC) error {
	if c.wasAnnounced(cur.ID, x) {
		return nil
	}
	return c.putConfig(ctx, cur, x, false)
}

// announce notes that a put-config of x to a majority of configuration id
// completed.
func (c *Client) announce(id uint64, x NextC) {
	if x.IsNone() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.announced[id]; !ok || a.Cfg.ID != x.Cfg.ID || a.Status < x.Status {
		c.announced[id] = NextC{Cfg: x.Cfg.Clone(), Status: x.Status}
	}
}

// wasAnnounced reports whether a put-config to a majority of
// configuration id of x's configuration at x's status or a later one
// completed.
func (c *Client) wasAnnounced(id uint64, x NextC) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.announced[id]
	return ok && a.Cfg.ID == x.Cfg.ID && a.Cfg.Equal(x.Cfg) && a.Status >= x.Status
}

// follow handles the pointers piggybacked on the replies from cur (ARES
// II PB): a pointer the client did not know is written back to cur, as in
// read-config, and added. It returns the next configuration to visit, or
// nil at the end of the known sequence. A finalized pointer is followed
// directly: a finalized configuration holds everything older ones did.
func (c *Client) follow(ctx context.Context, s *seq, cur *Config, ptrs []NextC) (*Config, error) {
	best := bestPointer(ptrs)
	if !best.IsNone() {
		if i := s.find(best.Cfg.ID); i < 0 || (*s)[i].Status < best.Status {
			if err := c.writeBack(ctx, cur, best); err != nil {
				return nil, err
			}
			s.add(best)
		}
		if best.Status == Finalized {
			return best.Cfg, nil
		}
	}
	for _, e := range *s {
		if e.Cfg.ID > cur.ID {
			return e.Cfg, nil
		}
	}
	return nil, nil
}

// OpInfo is what a read or write learned on its way, for the history. It
// is meaningful only for an operation that succeeded.
type OpInfo struct {
	// Tag is the tag the write put, or the read returned ({0,""} for the
	// initial value).
	Tag Tag
	// Config is the index of the configuration the operation finished in:
	// the last one it put its pair into (for a read without write-back,
	// the last one it read).
	Config uint64
	// Configs is how many distinct configurations the operation read
	// from or put into, in both phases.
	Configs int
	// Elements is, for a read whose value came from an EC configuration,
	// how many coded elements it was decoded from; 0 for ABD and for the
	// initial value.
	Elements int
	// Behind says some server of a first-phase quorum replied an older
	// tag than the newest of that quorum.
	Behind bool
}

// opTrace gathers an operation's OpInfo as its phases run.
type opTrace struct {
	info    OpInfo
	visited map[uint64]bool
}

func newTrace() *opTrace { return &opTrace{visited: map[uint64]bool{}} }

// at notes that the operation read from or put into configuration id.
func (t *opTrace) at(id uint64) {
	t.visited[id] = true
	t.info.Config = id
	t.info.Configs = len(t.visited)
}

// Write stores value under key.
func (c *Client) Write(ctx context.Context, key string, value []byte) error {
	_, err := c.WriteInfo(ctx, key, value)
	return err
}

// Read returns the value of key (nil for the initial value).
func (c *Client) Read(ctx context.Context, key string) ([]byte, error) {
	v, _, err := c.ReadInfo(ctx, key)
	return v, err
}

// WriteInfo stores value under key and reports what the write learned.
func (c *Client) WriteInfo(ctx context.Context, key string, value []byte) (OpInfo, error) {
	ctx, span := c.opSpan(ctx, "write", AttrKey.String(key))
	info, err := c.writeInfo(ctx, key, value)
	endOp(span, info, err)
	return info, err
}

func (c *Client) writeInfo(ctx context.Context, key string, value []byte) (OpInfo, error) {
	s := c.snapshot()
	defer func() { c.merge(s) }() // s as it ends, not as it starts
	tr := newTrace()
	var tmax Tag
	visit := func(cfg *Config) ([]NextC, error) {
		t, behind, ptrs, err := c.getTag(ctx, cfg, key)
		if err == nil {
			tr.at(cfg.ID)
			tr.info.Behind = tr.info.Behind || behind
		}
		tmax = MaxTag(tmax, t)
		return ptrs, err
	}
	if err := c.phase1(ctx, &s, visit); err != nil {
		return tr.info, fmt.Errorf("write %s: %w", ShortKey(key), err)
	}
	t := c.nextTag(key, tmax)
	tr.info.Tag = t
	if err := c.phase2(ctx, &s, key, pair{Tag: t, Value: value}, tr); err != nil {
		return tr.info, fmt.Errorf("write %s: %w", ShortKey(key), err)
	}
	return tr.info, nil
}

// nextTag is the tag of this client's next write of key: above the
// get-tag quorum's newest tag and above every tag it issued for key before,
// whether or not that write finished. It records the new timestamp before
// phase 2 sends anything, so a write that fails still counts.
func (c *Client) nextTag(key string, tmax Tag) Tag {
	c.mu.Lock()
	defer c.mu.Unlock()
	ts := tmax.TS
	if c.opts.Bug != BugRetrySameTag {
		ts = max(ts, c.issued[key])
	}
	t := Tag{TS: ts + 1, WID: c.wid}
	if c.opts.Bug == BugReuseTag && tmax.TS > 0 {
		t.TS = tmax.TS
	}
	if c.opts.Bug != BugRetrySameTag {
		c.issued[key] = max(c.issued[key], t.TS)
	}
	return t
}

// ReadInfo returns the value of key (nil for the initial value) and what
// the read learned.
func (c *Client) ReadInfo(ctx context.Context, key string) ([]byte, OpInfo, error) {
	ctx, span := c.opSpan(ctx, "read", AttrKey.String(key))
	v, info, err := c.readInfo(ctx, key)
	endOp(span, info, err)
	return v, info, err
}

func (c *Client) readInfo(ctx context.Context, key string) ([]byte, OpInfo, error) {
	s := c.snapshot()
	defer func() { c.merge(s) }() // s as it ends, not as it starts
	tr := newTrace()
	best, last, err := c.readPhase1(ctx, &s, key, tr)
	if err != nil {
		return nil, tr.info, fmt.Errorf("read %s: %w", ShortKey(key), err)
	}
	// The write-back puts best into the last configuration. When the last
	// one visited is it and its whole ABD quorum already held best's tag,
	// that put would change no server: the read goes on to its
	// read-config, and puts only into a configuration that came after.
	// A read of a quiet register then takes 2 rounds instead of 3
	// (docs/ROUNDS.md).
	var held *Config
	if lc := s.last(); last.cfg != nil && last.cfg.ID == lc.ID && lc.DAP == ABD && last.agreed && last.Tag == best.Tag {
		held = lc
	}
	tr.info.Tag, tr.info.Elements = best.Tag, best.elems
	if c.opts.Bug != BugNoWriteBack {
		if err := c.phase2From(ctx, &s, key, best, held, tr); err != nil {
			return nil, tr.info, fmt.Errorf("read %s: %w", ShortKey(key), err)
		}
	}
	return best.Value, tr.info, nil
}

// visited is what a read's phase 1 got from the last configuration it
// read.
type visited struct {
	pair
	cfg *Config
}

// readPhase1 is a read's phase 1: the newest pair of key over the
// configurations from the last finalized one (get-data on each), and what
// the last configuration read held.
func (c *Client) readPhase1(ctx context.Context, s *seq, key string, tr *opTrace) (pair, visited, error) {
	var (
		best pair
		last visited
	)
	visit := func(cfg *Config) ([]NextC, error) {
		got, ptrs, skip, err := c.getData(ctx, cfg, []string{key}, c.opts.PB)
		if err == nil && !skip {
			tr.at(cfg.ID)
			p := got[key]
			tr.info.Behind = tr.info.Behind || p.behind
			if best.Tag.Less(p.Tag) {
				best = p
			}
			last = visited{p, cfg}
		}
		return ptrs, err
	}
	err := c.phase1(ctx, s, visit)
	return best, last, err
}

// phase1 visits every configuration from the last finalized one to the last
// one. Plain ARES first runs read-config; with PB the client instead
// follows the pointers the visited servers piggyback on their replies. A
// configuration collected under the operation's feet sends it round again
// (plain ARES) or on to the finalized successor (PB).
func (c *Client) phase1(ctx context.Context, s *seq, visit func(*Config) ([]NextC, error)) error {
	if c.opts.PB {
		cur := (*s)[s.lastF()].Cfg
		for cur != nil {
			ptrs, err := visit(cur)
			if err != nil && !errors.Is(err, errCollected) {
				return err
			}
			if cur, err = c.follow(ctx, s, cur, ptrs); err != nil {
				return err
			}
		}
		return nil
	}
	for {
		if err := c.readConfig(ctx, s); err != nil {
			return err
		}
		collected := false
		for _, e := range (*s)[s.lastF():] {
			_, err := visit(e.Cfg)
			if errors.Is(err, errCollected) {
				collected = true
				break
			}
			if err != nil {
				return err
			}
		}
		if !collected {
			return nil
		}
	}
}

// phase2 puts the pair into the last configuration and then runs
// read-config; while that finds a newer configuration, it puts the pair
// there too. This loop is what keeps a write from being lost when a
// reconfiguration transfers state concurrently.
//
// The trailing read-config stays even with PB (ARES-SPEC §6: "Phase 2
// still ends with a read-config"), also when the put-data replies carry
// no pointer: a reconfigurer whose write-config reached one server of
// the put-data quorum after the put can still read the configuration's
// data from a quorum that holds the put only at servers it reached
// first; only a read-config sent once every put-data acknowledgement is
// in orders the reconfigurer's get-data after the whole put. See
// docs/ROUNDS.md.
func (c *Client) phase2(ctx context.Context, s *seq, key string, p pair, tr *opTrace) error {
	return c.phase2From(ctx, s, key, p, nil, tr)
}

// phase2From is phase2 where configuration held already has p on a
// quorum: no put-data into it.
func (c *Client) phase2From(ctx context.Context, s *seq, key string, p pair, held *Config, tr *opTrace) error {
	cache := encodings{}
	for {
		last := s.last()
		if held == nil || last.ID != held.ID {
			if _, err := c.putData(ctx, last, map[string]pair{key: p}, cache); err != nil {
				return err
			}
		}
		tr.at(last.ID)
		if err := c.readConfig(ctx, s); err != nil {
			return err
		}
		if s.last().ID == last.ID {
			return nil
		}
	}
}
