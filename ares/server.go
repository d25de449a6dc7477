package ares

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"
)

// maxTagOnly bounds the tag-only entries an EC object keeps beside its δ+1
// elements, so that a put does not rewrite an ever-growing list. The tags
// it drops are not forgotten: the object's floor is the largest of them,
// and readers count the list as holding every tag up to its floor, which
// can only delay a decode, never make it return an older tag. (choice)
const maxTagOnly = 64

// Server is the message handler of one storage server. It keeps, per
// configuration, the nextC pointer, the Paxos acceptor state of that
// configuration's consensus instance and the DAP state of every object, and
// persists each change through its Storage before it answers.
type Server struct {
	id       string
	delta    int
	maxReply int64 // ServerOptions.MaxReplyBytes
	bug      Bug
	st       Storage
	log      *slog.Logger
	tracer   trace.Tracer

	mu   sync.Mutex
	cfgs map[uint64]*cfgState

	// testHookPutChecked, set by a test before any request, runs between
	// putData's first collected check and the store: the window a racing
	// gc-config falls into.
	testHookPutChecked func()
}

// cfgState is a server's state of one configuration.
type cfgState struct {
	// collecting is set before gc-config gathers the values to drop and
	// read by putItem under the object's lock, so that a value is either
	// seen and dropped by the collection or not stored at all: none is
	// left behind on disk where no reader looks. Atomic, not under mu:
	// gc-config takes mu, then each object's lock; a put holds the
	// object's lock and must not take mu.
	collecting atomic.Bool

	mu sync.Mutex // guards the fields below but not objs' contents
	cfgMeta
	objs map[string]*objState
	// digest is Cfg's digest, computed once for the Cfg it was computed
	// of (digestOf): every request is checked against it.
	digest   string
	digestOf *Config
}

// cfgMeta is the persisted part of a configuration's state.
type cfgMeta struct {
	// Cfg is the configuration itself, recorded by the first request
	// that changed this state (nil in records written before it
	// existed, until such a request comes); requests that describe
	// another configuration under its index are refused.
	Cfg       *Config `json:",omitempty"`
	Next      NextC
	Collected bool
	Promised  Ballot
	AccBallot Ballot
	Accepted  *Config
}

// objState is one object in one configuration: its entries in tag order,
// oldest first. ABD keeps one entry.
type objState struct {
	mu sync.Mutex
	objMeta
}

// objMeta is the persisted part of an object's state. Entry values are
// never kept here; they are stored under their own keys.
type objMeta struct {
	Entries []Entry
	Floor   Tag // the largest tag dropped from Entries (EC)
}

// Storage key layout. Object keys are hex-encoded so that any byte string
// is a valid key and prefixes never collide.
func cfgKey(cfg uint64) string           { return fmt.Sprintf("c/%016x", cfg) }
func objPrefix(cfg uint64) string        { return fmt.Sprintf("o/%016x/", cfg) }
func objKey(cfg uint64, k string) string { return objPrefix(cfg) + hex.EncodeToString([]byte(k)) }
func valKey(cfg uint64, k string, t Tag) string {
	return fmt.Sprintf("v/%016x/%s/%016x/%s", cfg, hex.EncodeToString([]byte(k)), t.TS, hex.EncodeToString([]byte(t.WID)))
}

// NewServer loads the server's state from st.
func NewServer(st Storage, opts ServerOptions) (*Server, error) {
	if opts.ID == "" {
		return nil, fmt.Errorf("server needs an id")
	}
	if opts.Delta <= 0 {
		opts.Delta = 5
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Bug == BugVolatile {
		st = &volatileStorage{Storage: st, m: map[string][]byte{}}
	}
	if opts.MaxReplyBytes <= 0 {
		opts.MaxReplyBytes = DefaultMaxReplyBytes
	}
	s := &Server{id: opts.ID, delta: opts.Delta, maxReply: opts.MaxReplyBytes, bug: opts.Bug, st: st, log: opts.Logger,
		tracer: tracerOr(opts.Tracer), cfgs: map[uint64]*cfgState{}}
	err := st.Scan("c/", func(key string, val []byte) error {
		var id uint64
		if _, err := fmt.Sscanf(key, "c/%016x", &id); err != nil {
			return fmt.Errorf("bad config record %s: %w", ShortKey(key), err)
		}
		cs := &cfgState{objs: map[string]*objState{}}
		if err := json.Unmarshal(val, &cs.cfgMeta); err != nil {
			return fmt.Errorf("config record %d: %w", id, err)
		}
		cs.collecting.Store(cs.Collected)
		s.cfgs[id] = cs
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load configurations: %w", err)
	}
	err = st.Scan("o/", func(key string, val []byte) error {
		var id uint64
		rest := strings.TrimPrefix(key, "o/")
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return fmt.Errorf("bad object record %s", ShortKey(key))
		}
		if _, err := fmt.Sscanf(rest[:i], "%016x", &id); err != nil {
			return fmt.Errorf("bad object record %s: %w", ShortKey(key), err)
		}
		k, err := hex.DecodeString(rest[i+1:])
		if err != nil {
			return fmt.Errorf("bad object record %s: %w", ShortKey(key), err)
		}
		o := &objState{}
		if err := json.Unmarshal(val, &o.objMeta); err != nil {
			return fmt.Errorf("object record %s: %w", ShortKey(key), err)
		}
		cs := s.cfgs[id]
		if cs == nil {
			cs = &cfgState{objs: map[string]*objState{}}
			s.cfgs[id] = cs
		}
		cs.objs[string(k)] = o
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load objects: %w", err)
	}
	if c := opts.Initial; c != nil {
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("initial configuration: %w", err)
		}
		if c.ID != 0 {
			return nil, fmt.Errorf("initial configuration has index %d, want 0", c.ID)
		}
		if c.Index(s.id) < 0 {
			return nil, fmt.Errorf("initial configuration %s does not list server %s", c, s.id)
		}
		cs := s.cfg(0)
		if err := checkRecorded(cs.Cfg, c); err != nil {
			return nil, fmt.Errorf("storage holds another initial configuration: %w", err)
		}
		if err := s.record(0, cs, c, c.Digest()); err != nil {
			return nil, fmt.Errorf("record the initial configuration: %w", err)
		}
	}
	return s, nil
}

// ID returns the server's id.
func (s *Server) ID() string { return s.id }

func (s *Server) cfg(id uint64) *cfgState {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.cfgs[id]
	if cs == nil {
		cs = &cfgState{objs: map[string]*objState{}}
		s.cfgs[id] = cs
	}
	return cs
}

// lookup returns the object's state, or nil if the configuration never
// stored it; queries do not create objects.
func (s *Server) lookup(cs *cfgState, key string) *objState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cs.objs[key]
}

func (s *Server) obj(cs *cfgState, key string) *objState {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := cs.objs[key]
	if o == nil {
		o = &objState{}
		cs.objs[key] = o
	}
	return o
}

// snapshot returns the configuration's pointer and whether it was
// collected.
func (cs *cfgState) snapshot() (NextC, bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return NextC{Cfg: cs.Next.Cfg.Clone(), Status: cs.Next.Status}, cs.Collected
}

// Handle answers one request.
func (s *Server) Handle(ctx context.Context, req *Request) (*Response, error) {
	if req == nil {
		return nil, fmt.Errorf("nil request")
	}
	_, span := s.tracer.Start(ctx, "handle "+phaseName(req.Op), trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(AttrServer.String(s.id), AttrConfig.Int64(int64(req.Config))))
	resp, err := s.handle(ctx, req)
	endSpan(span, err)
	return resp, err
}

func (s *Server) handle(ctx context.Context, req *Request) (*Response, error) {
	if err := s.checkRequest(req); err != nil {
		s.log.Warn("request refused", "op", req.Op, "config", req.Config, "err", err)
		return nil, err
	}
	var cs *cfgState
	switch req.Op {
	case OpQueryTag, OpQueryData, OpReadConfig:
		// A query creates no state: a configuration the server holds
		// nothing of is answered as empty, from a state that is not
		// kept, so that queries of made-up indexes cost no memory.
		if cs = s.existing(req.Config); cs == nil {
			cs = &cfgState{objs: map[string]*objState{}}
		}
		if err := cs.checkRecorded(req.Described, req.Digest); err != nil {
			s.log.Warn("request refused", "op", req.Op, "config", req.Config, "err", err)
			return nil, err
		}
	default:
		cs = s.cfg(req.Config)
		if err := s.record(req.Config, cs, req.Described, req.Digest); err != nil {
			if IsRefused(err) {
				s.log.Warn("request refused", "op", req.Op, "config", req.Config, "err", err)
			} else {
				s.log.Error("request failed", "op", req.Op, "config", req.Config, "err", err)
			}
			return nil, err
		}
	}
	resp := &Response{ID: req.ID, From: s.id}
	var err error
	switch req.Op {
	case OpQueryTag:
		resp.Tags = make([]Tag, len(req.Keys))
		for i, k := range req.Keys {
			resp.Tags[i] = s.lookup(cs, k).maxTag()
		}
	case OpQueryData:
		err = s.queryData(cs, req, resp)
	case OpPutData:
		err = s.putData(cs, req)
	case OpReadConfig:
	case OpWriteConfig:
		err = s.writeConfig(req.Config, cs, req.Next, false)
	case OpGCConfig:
		err = s.writeConfig(req.Config, cs, req.Next, true)
	case OpPrepare, OpAccept:
		err = s.paxos(req.Config, cs, req, resp)
	default:
		return nil, fmt.Errorf("unknown op %d", req.Op)
	}
	if err != nil {
		if IsRefused(err) {
			s.log.Warn("request refused", "op", req.Op, "config", req.Config, "err", err)
		} else {
			s.log.Error("request failed", "op", req.Op, "config", req.Config, "err", err)
		}
		return nil, err
	}
	resp.Next, resp.Collected = cs.snapshot()
	return resp, nil
}

// existing returns the state of configuration id, or nil if the server
// holds none.
func (s *Server) existing(id uint64) *cfgState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfgs[id]
}

// checkRecorded refuses d, whose digest checkRequest verified, if cs
// recorded another configuration.
func (cs *cfgState) checkRecorded(d *Config, digest string) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.checkLocked(d, digest)
}

// checkLocked is checkRecorded with cs.mu held.
func (cs *cfgState) checkLocked(d *Config, digest string) error {
	if cs.Cfg == nil {
		return nil
	}
	if cs.digestOf != cs.Cfg {
		cs.digest, cs.digestOf = cs.Cfg.Digest(), cs.Cfg
	}
	return checkDigests(cs.Cfg, cs.digest, d, digest)
}

// record refuses d if cs recorded another configuration, and records d
// (on disk first) if cs recorded none: the first request that changes a
// configuration's state here fixes what that configuration is.
func (s *Server) record(id uint64, cs *cfgState, d *Config, digest string) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.Cfg != nil {
		return cs.checkLocked(d, digest)
	}
	m := cs.cfgMeta
	m.Cfg = d.Clone()
	if err := s.saveMeta(id, &m, nil); err != nil {
		return err
	}
	cs.cfgMeta = m
	return nil
}

func (o *objState) maxTag() Tag {
	if o == nil {
		return Tag{}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.Entries) == 0 {
		return o.Floor
	}
	return o.Entries[len(o.Entries)-1].Tag
}

func (s *Server) queryData(cs *cfgState, req *Request, resp *Response) error {
	next, collected := cs.snapshot()
	tagsOnly := collected || (req.TagsOnly && next.Status == Finalized)
	keys := req.Keys
	if req.AllKeys {
		s.mu.Lock()
		keys = make([]string, 0, len(cs.objs))
		for k := range cs.objs {
			if k > req.After {
				keys = append(keys, k)
			}
		}
		s.mu.Unlock()
		sort.Strings(keys)
	}
	resp.Objects = make([]Object, 0, len(keys))
	var size int64
	for i, k := range keys {
		// A reply stays within the byte budget (values and keys), so
		// that many large objects never make one reply bigger than a
		// message may be, nor take the server's memory: a transfer of
		// every key pages at it; a query of named keys that would pass
		// it is refused, before the object that would pass it is read.
		// The first object always goes: readObject bounds it alone.
		room := int64(math.MaxInt64)
		if i > 0 {
			room = s.maxReply - size - int64(len(k))
		}
		obj, fits, err := s.readObject(cs, req, k, tagsOnly, room)
		if err != nil {
			return err
		}
		if !fits {
			if !req.AllKeys {
				resp.Objects = nil
				return refuse("query-data of %d keys: the reply would pass %d bytes at key %d (%s); ask for fewer keys", len(keys), s.maxReply, i, ShortKey(k))
			}
			resp.More = true
			break
		}
		size += obj.valueBytes() + int64(len(k))
		resp.Objects = append(resp.Objects, obj)
	}
	return nil
}

// readObject answers a query for one object. The object stays locked
// while its values are read: a put in between would delete the value of
// an entry already copied, and the reply would show a tag without its
// value, which an ABD reader could not use. An object whose values would
// take more than room bytes does not fit (fits false): a
// page ends before it. Its newest value's size is in the metadata, so an
// object too big for that alone is not read at all.
func (s *Server) readObject(cs *cfgState, req *Request, k string, tagsOnly bool, room int64) (obj Object, fits bool, err error) {
	o := s.lookup(cs, k)
	if o == nil {
		return Object{Key: k}, room >= 0, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if n := len(o.Entries); !tagsOnly && n > 0 && o.Entries[n-1].HasValue && o.Entries[n-1].Size > room {
		return Object{}, false, nil
	}
	entries := append([]Entry(nil), o.Entries...)
	if req.DAP != EC && len(entries) > 1 {
		entries = entries[len(entries)-1:]
	}
	// Newest first: the newest value always goes; older EC elements only
	// while the object's values stay within the budget (k=1 makes every
	// element the whole value). An entry sent without its value is one
	// element fewer for the reader's decode rule, never a wrong one, but
	// it can leave a tag undecodable until a newer write completes: the
	// budget is per object, so one key's large values never take the
	// room of another's.
	budget := s.maxReply
	for i := len(entries) - 1; i >= 0; i-- {
		older := i < len(entries)-1
		if tagsOnly || !entries[i].HasValue || older && entries[i].Size > budget {
			entries[i].HasValue, entries[i].Size = false, 0
			continue
		}
		v, ok, err := s.st.Get(valKey(req.Config, k, entries[i].Tag))
		if err != nil {
			return Object{}, false, fmt.Errorf("read value of %s: %w", ShortKey(k), err)
		}
		if ok && older && budget < int64(len(v)) {
			ok, v = false, nil
		}
		// Missing only once the configuration was collected under us.
		entries[i].HasValue, entries[i].Value, entries[i].Size = ok, v, 0
		budget -= int64(len(v))
	}
	obj = Object{Key: k, Entries: entries, Floor: o.Floor}
	if obj.valueBytes() > room {
		return Object{}, false, nil // older elements, or a size the metadata lacked
	}
	return obj, true, nil
}

func (s *Server) putData(cs *cfgState, req *Request) error {
	if cs.collecting.Load() {
		// The data of a collected configuration lives in its finalized
		// successor; the writer learns of it from Next and writes there.
		// putItem checks again, under the object's lock.
		return nil
	}
	if s.testHookPutChecked != nil {
		s.testHookPutChecked()
	}
	ec := req.DAP == EC
	if len(req.Items) > 1 && distinctKeys(req.Items) {
		return s.putItems(req.Config, cs, req.Items, ec)
	}
	for _, it := range req.Items {
		if err := s.putItem(req.Config, cs, it, ec); err != nil {
			return err
		}
	}
	return nil
}

// distinctKeys reports whether no two items name the same key.
func distinctKeys(items []Item) bool {
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		if seen[it.Key] {
			return false
		}
		seen[it.Key] = true
	}
	return true
}

// putItem stores one pair. The new state is built on a copy and installed
// only once it is on disk: a failed write must not leave memory ahead of
// the disk, or a retry would be acknowledged without being stored.
func (s *Server) putItem(cfg uint64, cs *cfgState, it Item, ec bool) error {
	o := s.obj(cs, it.Key)
	o.mu.Lock()
	defer o.mu.Unlock()
	if cs.collecting.Load() {
		return nil // as in putData: the data lives in the successor now
	}
	puts := map[string][]byte{}
	var dels []string
	m, changed, err := s.nextMeta(cfg, o, it, ec, puts, &dels)
	if err != nil || !changed {
		return err
	}
	if err := s.apply(puts, dels); err != nil {
		return fmt.Errorf("persist %s: %w", ShortKey(it.Key), err)
	}
	o.objMeta = m
	return nil
}

// putItems stores the pairs of several keys (update-config's batches,
// ARES-SPEC §6 batching) in one Storage.Apply, so one fsync instead of
// one per key (issue 14). As in putItem, every new state is built on a
// copy and installed only once the whole batch is on disk. The objects
// are locked in key order, so two batches cannot deadlock; gc-config
// holds one object lock at a time and a single put one.
func (s *Server) putItems(cfg uint64, cs *cfgState, items []Item, ec bool) error {
	sorted := append([]Item(nil), items...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Key < sorted[j].Key })
	objs := make([]*objState, len(sorted))
	for i, it := range sorted {
		objs[i] = s.obj(cs, it.Key)
		objs[i].mu.Lock()
	}
	defer func() {
		for _, o := range objs {
			o.mu.Unlock()
		}
	}()
	if cs.collecting.Load() {
		return nil // as in putData: the data lives in the successor now
	}
	puts := map[string][]byte{}
	var dels []string
	metas := make([]objMeta, len(sorted))
	changed := make([]bool, len(sorted))
	anyChange := false
	for i, it := range sorted {
		var err error
		metas[i], changed[i], err = s.nextMeta(cfg, objs[i], it, ec, puts, &dels)
		if err != nil {
			return err
		}
		anyChange = anyChange || changed[i]
	}
	if !anyChange {
		return nil
	}
	if err := s.apply(puts, dels); err != nil {
		return fmt.Errorf("persist %d objects: %w", len(sorted), err)
	}
	for i, o := range objs {
		if changed[i] {
			o.objMeta = metas[i]
		}
	}
	return nil
}

// nextMeta computes an object's state after storing it (o locked): the
// new meta, and the storage changes it takes added to puts and dels;
// changed is false when the put changes nothing (no write, no fsync).
func (s *Server) nextMeta(cfg uint64, o *objState, it Item, ec bool, puts map[string][]byte, dels *[]string) (objMeta, bool, error) {
	m := objMeta{Entries: append([]Entry(nil), o.Entries...), Floor: o.Floor}
	if ec {
		if it.Tag.IsZero() {
			// t0 with the initial (empty) value: every server holds it
			// implicitly (ARES-SPEC §1; decodeNewest counts it in every
			// list), so a read's write-back of the initial value stores
			// nothing (issue 14: it cost an fsync).
			return m, false, nil
		}
		i := sort.Search(len(m.Entries), func(i int) bool { return !m.Entries[i].Tag.Less(it.Tag) })
		if (i < len(m.Entries) && m.Entries[i].Tag == it.Tag) || !m.Floor.Less(it.Tag) && !m.Floor.IsZero() {
			return m, false, nil // a duplicate, or older than what was already dropped
		}
		m.Entries = append(m.Entries, Entry{})
		copy(m.Entries[i+1:], m.Entries[i:])
		m.Entries[i] = Entry{Tag: it.Tag, HasValue: true, Size: int64(len(it.Value))}
		fresh := map[string]bool{}
		vk := valKey(cfg, it.Key, it.Tag)
		puts[vk], fresh[vk] = it.Value, true
		// Keep the δ+1 newest elements; older entries keep only their tag.
		kept := 0
		for j := len(m.Entries) - 1; j >= 0; j-- {
			if !m.Entries[j].HasValue {
				continue
			}
			kept++
			if kept > s.delta+1 {
				m.Entries[j].HasValue = false
				key := valKey(cfg, it.Key, m.Entries[j].Tag)
				if fresh[key] {
					delete(puts, key)
				} else {
					*dels = append(*dels, key)
				}
			}
		}
		if extra := len(m.Entries) - (s.delta + 1 + maxTagOnly); extra > 0 {
			m.Floor = MaxTag(m.Floor, m.Entries[extra-1].Tag)
			m.Entries = m.Entries[extra:]
		}
	} else {
		var cur Tag
		if len(m.Entries) > 0 {
			cur = m.Entries[len(m.Entries)-1].Tag
		}
		if !cur.Less(it.Tag) && s.bug != BugNoTagCheck {
			return m, false, nil // a tag only moves up
		}
		if len(m.Entries) > 0 && cur != it.Tag {
			*dels = append(*dels, valKey(cfg, it.Key, cur))
		}
		m.Entries = []Entry{{Tag: it.Tag, HasValue: true, Size: int64(len(it.Value))}}
		puts[valKey(cfg, it.Key, it.Tag)] = it.Value
	}
	meta, err := json.Marshal(&m)
	if err != nil {
		return m, false, err
	}
	puts[objKey(cfg, it.Key)] = meta
	return m, true, nil
}

// writeConfig moves the configuration's pointer forward: ⊥ -> P -> F for
// the decided successor, or (GC) straight to a later finalized
// configuration, dropping the data elements.
func (s *Server) writeConfig(cfg uint64, cs *cfgState, x NextC, gc bool) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if x.IsNone() { // checkPointer refused it already; kept for callers within the package
		return refuse("%s with an empty pointer", map[bool]string{false: "write-config", true: "gc-config"}[gc])
	}
	m := cs.cfgMeta
	changed := false
	if !m.Next.IsNone() && x.Cfg.ID == m.Next.Cfg.ID && !x.Cfg.Equal(m.Next.Cfg) {
		// Consensus decides one successor per index; two would mean the
		// protocol is broken. Refuse, loudly, rather than switch.
		s.log.Error("conflicting successor refused", "config", cfg, "have", m.Next.Cfg, "got", x.Cfg)
		return refuse("configuration %d already has successor %s, not %s", cfg, m.Next.Cfg, x.Cfg)
	}
	if m.Next.better(x) {
		m.Next = NextC{Cfg: x.Cfg.Clone(), Status: x.Status}
		changed = true
	}
	var dels []string
	if gc && !m.Collected && x.Status == Finalized && x.Cfg.ID > cfg {
		// Readers get tags only from a collected configuration, so the
		// in-memory entries can stay as they are; the values go.
		m.Collected, changed = true, true
		cs.collecting.Store(true)
		s.mu.Lock()
		objs := make(map[string]*objState, len(cs.objs))
		for k, o := range cs.objs {
			objs[k] = o
		}
		s.mu.Unlock()
		for k, o := range objs {
			o.mu.Lock()
			for _, e := range o.Entries {
				if e.HasValue {
					dels = append(dels, valKey(cfg, k, e.Tag))
				}
			}
			o.mu.Unlock()
		}
	}
	if !changed {
		return nil
	}
	if err := s.saveMeta(cfg, &m, dels); err != nil {
		cs.collecting.Store(cs.Collected)
		return err
	}
	cs.cfgMeta = m
	return nil
}

// saveMeta persists a configuration's meta.
func (s *Server) saveMeta(cfg uint64, m *cfgMeta, dels []string) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := s.st.Apply(map[string][]byte{cfgKey(cfg): b}, dels); err != nil {
		return fmt.Errorf("persist configuration %d: %w", cfg, err)
	}
	return nil
}

// paxos is the acceptor of the configuration's consensus instance. Its
// state changes on disk before in memory, as in putItem.
func (s *Server) paxos(cfg uint64, cs *cfgState, req *Request, resp *Response) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	m := cs.cfgMeta
	ok := !req.Ballot.Less(m.Promised)
	if ok && req.Op == OpAccept {
		if req.Value == nil { // checkRequest refused it already
			return refuse("accept without a value")
		}
		// One ballot carries one value: a second value under the same
		// ballot is a proposer bug, and taking it could decide twice.
		if m.AccBallot == req.Ballot && m.Accepted != nil && !m.Accepted.Equal(req.Value) {
			ok = false
		}
	}
	changed := false
	if ok {
		if m.Promised != req.Ballot {
			m.Promised, changed = req.Ballot, true
		}
		if req.Op == OpAccept && (m.AccBallot != req.Ballot || m.Accepted == nil) {
			m.AccBallot, m.Accepted, changed = req.Ballot, req.Value.Clone(), true
		}
	}
	if changed {
		if err := s.saveMeta(cfg, &m, nil); err != nil {
			return err
		}
		cs.cfgMeta = m
	}
	resp.OK = ok
	resp.Promised = m.Promised
	resp.AcceptedBallot = m.AccBallot
	resp.Accepted = m.Accepted.Clone()
	return nil
}

// apply persists an object's change; with BugNoSync it acknowledges what
// the storage took but did not sync, where the storage can tell them apart.
func (s *Server) apply(puts map[string][]byte, dels []string) error {
	if u, ok := s.st.(Unsynced); ok && s.bug == BugNoSync {
		return u.ApplyUnsynced(puts, dels)
	}
	return s.st.Apply(puts, dels)
}

// volatileStorage is BugVolatile: writes land in memory only, so they are
// acknowledged but forgotten by a restart.
type volatileStorage struct {
	Storage
	mu sync.Mutex
	m  map[string][]byte // nil value: deleted
}

func (v *volatileStorage) Get(key string) ([]byte, bool, error) {
	v.mu.Lock()
	val, ok := v.m[key]
	v.mu.Unlock()
	if ok {
		return val, val != nil, nil
	}
	return v.Storage.Get(key)
}

func (v *volatileStorage) Apply(puts map[string][]byte, dels []string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, k := range dels {
		v.m[k] = nil
	}
	for k, val := range puts {
		v.m[k] = append([]byte{}, val...)
	}
	return nil
}
