package ares

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
)

// maxTagOnly bounds the tag-only entries an EC object keeps beside its δ+1
// elements. Keeping every tag would make each put rewrite an ever-growing
// list; a tag that has δ+1+maxTagOnly newer tags at the same server can no
// longer be the newest tag seen by k servers in any read. (choice)
const maxTagOnly = 64

// Server is the message handler of one storage server. It keeps, per
// configuration, the nextC pointer, the Paxos acceptor state of that
// configuration's consensus instance and the DAP state of every object, and
// persists each change through its Storage before it answers.
type Server struct {
	id    string
	delta int
	bug   Bug
	st    Storage
	log   *slog.Logger

	mu   sync.Mutex
	cfgs map[uint64]*cfgState
}

// cfgState is a server's state of one configuration.
type cfgState struct {
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
	mu      sync.Mutex
	entries []Entry // Value is never kept here; it is read from storage
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
	s := &Server{id: opts.ID, delta: opts.Delta, bug: opts.Bug, st: st, log: opts.Logger, cfgs: map[uint64]*cfgState{}}
	err := st.Scan("c/", func(key string, val []byte) error {
		var id uint64
		if _, err := fmt.Sscanf(key, "c/%016x", &id); err != nil {
			return fmt.Errorf("bad config record %q: %w", key, err)
		}
		cs := &cfgState{objs: map[string]*objState{}}
		if err := json.Unmarshal(val, &cs.cfgMeta); err != nil {
			return fmt.Errorf("config record %d: %w", id, err)
		}
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
		if err := json.Unmarshal(val, &o.entries); err != nil {
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
	cs := s.cfg(req.Config)
	resp := &Response{ID: req.ID, From: s.id}
	var err error
	switch req.Op {
	case OpQueryTag:
		resp.Tags = make([]Tag, len(req.Keys))
		for i, k := range req.Keys {
			resp.Tags[i] = s.obj(cs, k).maxTag()
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
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.entries) == 0 {
		return Tag{}
	}
	return o.entries[len(o.entries)-1].Tag
}

func (s *Server) queryData(cs *cfgState, req *Request, resp *Response) error {
	next, collected := cs.snapshot()
	tagsOnly := collected || (req.TagsOnly && next.Status == Finalized)
	keys := req.Keys
	if req.AllKeys {
		s.mu.Lock()
		keys = make([]string, 0, len(cs.objs))
		for k := range cs.objs {
			keys = append(keys, k)
		}
		s.mu.Unlock()
		sort.Strings(keys)
	}
	resp.Objects = make([]Object, 0, len(keys))
	for _, k := range keys {
		o := s.obj(cs, k)
		o.mu.Lock()
		entries := append([]Entry(nil), o.entries...)
		o.mu.Unlock()
		if req.DAP != EC && len(entries) > 1 {
			entries = entries[len(entries)-1:]
		}
		for i := range entries {
			if tagsOnly || !entries[i].HasValue {
				entries[i].HasValue = false
				continue
			}
			// A concurrent put may have trimmed the element since the copy;
			// then it is reported as trimmed, which a reader tolerates.
			v, ok, err := s.st.Get(valKey(req.Config, k, entries[i].Tag))
			if err != nil {
				return fmt.Errorf("read value of %q: %w", k, err)
			}
			entries[i].HasValue, entries[i].Value = ok, v
		}
		resp.Objects = append(resp.Objects, Object{Key: k, Entries: entries})
	}
	return nil
}

func (s *Server) putData(cs *cfgState, req *Request) error {
	if _, collected := cs.snapshot(); collected {
		// The data of a collected configuration lives in its finalized
		// successor; the writer learns of it from Next and writes there.
		return nil
	}
	ec := req.DAP == EC
	for _, it := range req.Items {
		if err := s.putItem(req.Config, cs, it, ec); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) putItem(cfg uint64, cs *cfgState, it Item, ec bool) error {
	o := s.obj(cs, it.Key)
	o.mu.Lock()
	defer o.mu.Unlock()
	puts := map[string][]byte{}
	var dels []string
	if ec {
		i := sort.Search(len(o.entries), func(i int) bool { return !o.entries[i].Tag.Less(it.Tag) })
		if i < len(o.entries) && o.entries[i].Tag == it.Tag {
			return nil // a duplicate: the element is already here or was trimmed
		}
		o.entries = append(o.entries, Entry{})
		copy(o.entries[i+1:], o.entries[i:])
		o.entries[i] = Entry{Tag: it.Tag, HasValue: true}
		puts[valKey(cfg, it.Key, it.Tag)] = it.Value
		// Keep the δ+1 newest elements; older entries keep only their tag.
		kept := 0
		for j := len(o.entries) - 1; j >= 0; j-- {
			if !o.entries[j].HasValue {
				continue
			}
			kept++
			if kept > s.delta+1 {
				o.entries[j].HasValue = false
				dels = append(dels, valKey(cfg, it.Key, o.entries[j].Tag))
				delete(puts, valKey(cfg, it.Key, o.entries[j].Tag))
			}
		}
		if extra := len(o.entries) - (s.delta + 1 + maxTagOnly); extra > 0 {
			o.entries = append([]Entry(nil), o.entries[extra:]...)
		}
	} else {
		var cur Tag
		if len(o.entries) > 0 {
			cur = o.entries[len(o.entries)-1].Tag
		}
		if !cur.Less(it.Tag) && s.bug != BugNoTagCheck {
			return nil // a tag only moves up
		}
		if len(o.entries) > 0 && cur != it.Tag {
			dels = append(dels, valKey(cfg, it.Key, cur))
		}
		o.entries = []Entry{{Tag: it.Tag, HasValue: true}}
		puts[valKey(cfg, it.Key, it.Tag)] = it.Value
	}
	meta, err := json.Marshal(o.entries)
	if err != nil {
		return err
	}
	puts[objKey(cfg, it.Key)] = meta
	if err := s.st.Apply(puts, dels); err != nil {
		return fmt.Errorf("persist %q: %w", it.Key, err)
	}
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
	changed := false
	if cs.Next.better(x) {
		cs.Next = NextC{Cfg: x.Cfg.Clone(), Status: x.Status}
		changed = true
	}
	var dels []string
	if gc && !cs.Collected && x.Status == Finalized && x.Cfg.ID > cfg {
		cs.Collected, changed = true, true
		s.mu.Lock()
		objs := make(map[string]*objState, len(cs.objs))
		for k, o := range cs.objs {
			objs[k] = o
		}
		s.mu.Unlock()
		for k, o := range objs {
			o.mu.Lock()
			for i := range o.entries {
				if o.entries[i].HasValue {
					o.entries[i].HasValue = false
					dels = append(dels, valKey(cfg, k, o.entries[i].Tag))
				}
			}
			o.mu.Unlock()
		}
	}
	if !changed {
		return nil
	}
	return s.saveMeta(cfg, cs, dels)
}

// saveMeta persists a configuration's meta; cs.mu is held.
func (s *Server) saveMeta(cfg uint64, cs *cfgState, dels []string) error {
	b, err := json.Marshal(&cs.cfgMeta)
	if err != nil {
		return err
	}
	if err := s.st.Apply(map[string][]byte{cfgKey(cfg): b}, dels); err != nil {
		return fmt.Errorf("persist configuration %d: %w", cfg, err)
	}
	return nil
}

// paxos is the acceptor of the configuration's consensus instance.
func (s *Server) paxos(cfg uint64, cs *cfgState, req *Request, resp *Response) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	ok := !req.Ballot.Less(cs.Promised)
	changed := false
	if ok {
		if cs.Promised != req.Ballot {
			cs.Promised, changed = req.Ballot, true
		}
		if req.Op == OpAccept {
			if req.Value == nil {
				return fmt.Errorf("accept without a value")
			}
			if cs.AccBallot != req.Ballot || !cs.Accepted.Equal(req.Value) {
				cs.AccBallot, cs.Accepted, changed = req.Ballot, req.Value.Clone(), true
			}
		}
	}
	if changed {
		if err := s.saveMeta(cfg, cs, nil); err != nil {
			return err
		}
	}
	resp.OK = ok
	resp.Promised = cs.Promised
	resp.AcceptedBallot = cs.AccBallot
	resp.Accepted = cs.Accepted.Clone()
	return nil
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
