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
}

// cfgMeta is the persisted part of a configuration's state.
type cfgMeta struct {
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
			return fmt.Errorf("bad config record %q: %w", key, err)
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
			return fmt.Errorf("bad object record %q", key)
		}
		if _, err := fmt.Sscanf(rest[:i], "%016x", &id); err != nil {
			return fmt.Errorf("bad object record %q: %w", key, err)
		}
		k, err := hex.DecodeString(rest[i+1:])
		if err != nil {
			return fmt.Errorf("bad object record %q: %w", key, err)
		}
		o := &objState{}
		if err := json.Unmarshal(val, &o.objMeta); err != nil {
			return fmt.Errorf("object record %q: %w", key, err)
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
	cs := s.cfg(req.Config)
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
		s.log.Error("request failed", "op", req.Op, "config", req.Config, "err", err)
		return nil, err
	}
	resp.Next, resp.Collected = cs.snapshot()
	return resp, nil
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
		// A transfer of every key pages at the byte budget, so that many
		// large objects never make one reply bigger than a message may be.
		// The first object always goes: readObject bounds it alone.
		room := int64(math.MaxInt64)
		if req.AllKeys && i > 0 {
			room = s.maxReply - size
		}
		obj, fits, err := s.readObject(cs, req, k, tagsOnly, room)
		if err != nil {
			return err
		}
		if !fits {
			resp.More = true
			break
		}
		size += obj.valueBytes()
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
			return Object{}, false, fmt.Errorf("read value of %q: %w", k, err)
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
	for _, it := range req.Items {
		if err := s.putItem(req.Config, cs, it, ec); err != nil {
			return err
		}
	}
	return nil
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
	m := objMeta{Entries: append([]Entry(nil), o.Entries...), Floor: o.Floor}
	puts := map[string][]byte{}
	var dels []string
	if ec {
		i := sort.Search(len(m.Entries), func(i int) bool { return !m.Entries[i].Tag.Less(it.Tag) })
		if (i < len(m.Entries) && m.Entries[i].Tag == it.Tag) || !m.Floor.Less(it.Tag) && !it.Tag.IsZero() && !m.Floor.IsZero() {
			return nil // a duplicate, or older than what was already dropped
		}
		m.Entries = append(m.Entries, Entry{})
		copy(m.Entries[i+1:], m.Entries[i:])
		m.Entries[i] = Entry{Tag: it.Tag, HasValue: true, Size: int64(len(it.Value))}
		puts[valKey(cfg, it.Key, it.Tag)] = it.Value
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
				if _, fresh := puts[key]; fresh {
					delete(puts, key)
				} else {
					dels = append(dels, key)
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
			return nil // a tag only moves up
		}
		if len(m.Entries) > 0 && cur != it.Tag {
			dels = append(dels, valKey(cfg, it.Key, cur))
		}
		m.Entries = []Entry{{Tag: it.Tag, HasValue: true, Size: int64(len(it.Value))}}
		puts[valKey(cfg, it.Key, it.Tag)] = it.Value
	}
	meta, err := json.Marshal(&m)
	if err != nil {
		return err
	}
	puts[objKey(cfg, it.Key)] = meta
	if err := s.apply(puts, dels); err != nil {
		return fmt.Errorf("persist %q: %w", it.Key, err)
	}
	o.objMeta = m
	return nil
}

// writeConfig moves the configuration's pointer forward: ⊥ -> P -> F for
// the decided successor, or (GC) straight to a later finalized
// configuration, dropping the data elements.
func (s *Server) writeConfig(cfg uint64, cs *cfgState, x NextC, gc bool) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if x.IsNone() {
		return fmt.Errorf("%s with an empty pointer", map[bool]string{false: "write-config", true: "gc-config"}[gc])
	}
	m := cs.cfgMeta
	changed := false
	if !m.Next.IsNone() && x.Cfg.ID == m.Next.Cfg.ID && !x.Cfg.Equal(m.Next.Cfg) {
		// Consensus decides one successor per index; two would mean the
		// protocol is broken. Refuse, loudly, rather than switch.
		s.log.Error("conflicting successor refused", "config", cfg, "have", m.Next.Cfg, "got", x.Cfg)
		return fmt.Errorf("configuration %d already has successor %s, not %s", cfg, m.Next.Cfg, x.Cfg)
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
		if req.Value == nil {
			return fmt.Errorf("accept without a value")
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
