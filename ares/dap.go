package ares

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/ares-torture/torture/deadline"
)

// ErrNotDecodable is wrapped by an EC get-data that kept seeing a newer tag
// than it could decode (more than δ writes concurrent with the read). The
// operation's effect is unknown.
var ErrNotDecodable = errors.New("newest tag not decodable")

// errCollected reports that a configuration was garbage collected while an
// operation read its data; the operation starts its phase again.
var errCollected = errors.New("configuration collected")

// pointers gathers the nextC pointers of replies.
func pointers(resps []*Response) []NextC {
	out := make([]NextC, 0, len(resps))
	for _, r := range resps {
		if !r.Next.IsNone() {
			out = append(out, r.Next)
		}
	}
	return out
}

// bestPointer prefers a finalized pointer over a pending one, and among
// equals the later configuration.
func bestPointer(ps []NextC) NextC {
	var best NextC
	for _, p := range ps {
		if p.IsNone() {
			continue
		}
		if best.IsNone() || p.Status > best.Status || (p.Status == best.Status && p.Cfg.ID > best.Cfg.ID) {
			best = p
		}
	}
	return best
}

// getTag is the DAP's get-tag for one key: the largest tag of a quorum.
// behind reports that some server of the quorum replied an older tag.
func (c *Client) getTag(ctx context.Context, cfg *Config, key string) (t Tag, behind bool, ptrs []NextC, err error) {
	resps, err := c.quorum(ctx, cfg, OpQueryTag, cfg.Quorum(), func(int) *Request {
		return &Request{Keys: []string{key}}
	})
	if err != nil {
		return Tag{}, false, nil, err
	}
	for _, r := range resps {
		if len(r.Tags) != 1 {
			return Tag{}, false, nil, fmt.Errorf("query-tag reply from %s has %d tags, want 1", r.From, len(r.Tags))
		}
		t = MaxTag(t, r.Tags[0])
	}
	for _, r := range resps {
		behind = behind || r.Tags[0].Less(t)
	}
	return t, behind, pointers(resps), nil
}

// pair is a tag and the value it names.
type pair struct {
	Tag   Tag
	Value []byte
	// What a get-data learned besides: how many coded elements an EC
	// value was decoded from, and whether some server of the quorum held
	// an older tag than the newest (set for get-data of named keys only).
	elems  int
	behind bool
	// agreed: every server of the quorum held exactly this tag, so the
	// pair is on a quorum already (ABD, named keys only).
	agreed bool
}

// getData is the DAP's get-data for the given keys. It returns the newest
// pair of each key and the pointers of the replies. With tagsOnly (PB), a
// server whose configuration has a finalized successor leaves its values
// out; skip then says the data is in that successor and this
// configuration's result must not be used. This is safe for ABD as for
// EC: the successor was finalized only after update-config moved into it
// everything this configuration held, and a write that lands here later
// also lands there (its phase-2 loop).
func (c *Client) getData(ctx context.Context, cfg *Config, keys []string, tagsOnly bool) (map[string]pair, []NextC, bool, error) {
	out, ptrs, _, skip, err := c.getDataRetry(ctx, cfg, dataQuery{keys: keys, tagsOnly: tagsOnly})
	return out, ptrs, skip, err
}

// dataQuery is what one get-data asks for: keys, or with keys nil one page
// of every key after after.
type dataQuery struct {
	keys     []string
	tagsOnly bool
	after    string
}

// page is where a get-data of every key stopped: with more, the result
// holds the keys up to end and the quorum holds keys after it.
type page struct {
	end  string
	more bool
}

func (c *Client) getDataRetry(ctx context.Context, cfg *Config, q dataQuery) (map[string]pair, []NextC, page, bool, error) {
	for attempt := 0; ; attempt++ {
		out, ptrs, pg, skip, retry, err := c.getDataOnce(ctx, cfg, q)
		if err != nil || !retry {
			return out, ptrs, pg, skip, err
		}
		if attempt >= c.opts.DecodeRetries {
			return nil, nil, page{}, false, fmt.Errorf("get-data on configuration %d: %w after %d attempts", cfg.ID, ErrNotDecodable, attempt+1)
		}
		if err := deadline.Sleep(ctx, time.Duration(attempt+1)*c.opts.Retry/4); err != nil {
			return nil, nil, page{}, false, err
		}
	}
}

func (c *Client) getDataOnce(ctx context.Context, cfg *Config, q dataQuery) (out map[string]pair, ptrs []NextC, pg page, skip, retry bool, err error) {
	keys := q.keys
	resps, err := c.quorum(ctx, cfg, OpQueryData, cfg.Quorum(), func(int) *Request {
		return &Request{Keys: keys, AllKeys: keys == nil, TagsOnly: q.tagsOnly, After: q.after}
	})
	if err != nil {
		return nil, nil, pg, false, false, err
	}
	ptrs = pointers(resps)
	for _, r := range resps {
		if r.Collected {
			return nil, ptrs, pg, false, false, errCollected
		}
		if q.tagsOnly && r.Next.Status == Finalized {
			return nil, ptrs, pg, true, false, nil
		}
	}
	if keys == nil {
		pg = trimToPage(resps)
	}
	out = map[string]pair{}
	if cfg.DAP != EC {
		for _, r := range resps {
			for _, o := range r.Objects {
				for _, e := range o.Entries {
					if !e.HasValue {
						continue
					}
					if p, ok := out[o.Key]; !ok || p.Tag.Less(e.Tag) {
						out[o.Key] = pair{Tag: e.Tag, Value: e.Value}
					}
				}
			}
		}
		for _, k := range keys {
			p := out[k]
			p.agreed = true
			for _, r := range resps {
				newest := newestOf(findObject(r.Objects, k))
				p.behind = p.behind || newest.Less(p.Tag)
				p.agreed = p.agreed && newest == p.Tag
			}
			out[k] = p
		}
		return out, ptrs, pg, false, false, nil
	}
	// EC: per key, gather each server's list by its element index.
	lists := map[string][]*Object{}
	for _, k := range keys {
		lists[k] = make([]*Object, cfg.N())
	}
	replied := make([]bool, cfg.N())
	for _, r := range resps {
		idx := cfg.Index(r.From)
		if idx < 0 {
			return nil, nil, pg, false, false, fmt.Errorf("reply from %s, not a server of configuration %d", r.From, cfg.ID)
		}
		replied[idx] = true
		for i := range r.Objects {
			o := &r.Objects[i]
			if lists[o.Key] == nil {
				lists[o.Key] = make([]*Object, cfg.N())
			}
			lists[o.Key][idx] = o
		}
	}
	for k, l := range lists {
		p, ok, err := decodeNewest(cfg, l)
		if err != nil {
			return nil, nil, pg, false, false, fmt.Errorf("key %s: %w", ShortKey(k), err)
		}
		if !ok {
			return nil, nil, pg, false, true, nil
		}
		if keys != nil {
			// Behind against the newest tag any server listed, not the
			// decoded one: a server that lacks a listed tag lags.
			var newest Tag
			for i, o := range l {
				if replied[i] {
					newest = MaxTag(newest, newestOf(o))
				}
			}
			for i, o := range l {
				p.behind = p.behind || (replied[i] && newestOf(o).Less(newest))
			}
		}
		out[k] = p
	}
	return out, ptrs, pg, false, false, nil
}

// findObject returns key's object in a reply, or nil.
func findObject(objs []Object, key string) *Object {
	for i := range objs {
		if objs[i].Key == key {
			return &objs[i]
		}
	}
	return nil
}

// newestOf is the newest tag a server listed for an object (t0 for none).
func newestOf(o *Object) Tag {
	if o == nil {
		return Tag{}
	}
	t := o.Floor
	for _, e := range o.Entries {
		t = MaxTag(t, e.Tag)
	}
	return t
}

// trimToPage cuts the replies of a get-data of every key to one page. A
// reply holds its server's keys in order from the request's After; one
// with More stopped early, at its last key. Up to the smallest such key,
// every reply is complete, so the quorum's answer for those keys is as
// good as an unpaged one; the keys after it are asked for again.
func trimToPage(resps []*Response) page {
	var pg page
	for _, r := range resps {
		if r.More && len(r.Objects) > 0 {
			if last := r.Objects[len(r.Objects)-1].Key; !pg.more || last < pg.end {
				pg = page{end: last, more: true}
			}
		}
	}
	if !pg.more {
		return pg
	}
	for _, r := range resps {
		n := sort.Search(len(r.Objects), func(i int) bool { return r.Objects[i].Key > pg.end })
		r.Objects = r.Objects[:n]
	}
	return pg
}

// decodeNewest applies the EC decode rule to the lists of one key, indexed
// by element: T* are the tags in at least k lists, Tdec those with an
// element in at least k lists; every server implicitly holds the initial
// pair, and a list holds (tag only) every tag up to its floor. It decodes
// max Tdec only if it equals max T*, and otherwise reports !ok: returning
// an older decodable tag could undo a completed write.
func decodeNewest(cfg *Config, lists []*Object) (pair, bool, error) {
	listed := map[Tag]bool{}
	for _, o := range lists {
		if o == nil {
			continue
		}
		for _, e := range o.Entries {
			listed[e.Tag] = true
		}
		if !o.Floor.IsZero() {
			listed[o.Floor] = true
		}
	}
	var maxAll, maxDec Tag // t0 is in every list, with its (empty) value
	for t := range listed {
		all, dec := 0, 0
		for _, o := range lists {
			if o == nil {
				continue
			}
			in, val := !o.Floor.Less(t) && !o.Floor.IsZero(), false
			for _, e := range o.Entries {
				if e.Tag == t {
					in, val = true, e.HasValue
					break
				}
			}
			if in {
				all++
			}
			if val {
				dec++
			}
		}
		if all >= cfg.K && maxAll.Less(t) {
			maxAll = t
		}
		if dec >= cfg.K && maxDec.Less(t) {
			maxDec = t
		}
	}
	if maxAll != maxDec {
		return pair{}, false, nil
	}
	if maxDec.IsZero() {
		return pair{}, true, nil
	}
	elems := make([][]byte, cfg.N())
	have := 0
	for i, o := range lists {
		if o == nil || have == cfg.K {
			continue
		}
		for _, e := range o.Entries {
			if e.Tag == maxDec && e.HasValue {
				elems[i] = e.Value
				have++
				break
			}
		}
	}
	v, err := Decode(elems, cfg.N(), cfg.K)
	if err != nil {
		return pair{}, false, fmt.Errorf("decode %s: %w", maxDec, err)
	}
	return pair{Tag: maxDec, Value: v, elems: have}, true, nil
}

// encodings keeps the coded elements of one pair by code [n, k], so that a
// phase-2 loop that moves on to a configuration with the same code sends
// the elements it encoded for the last one instead of encoding again
// (issue 14). Element i depends only on the value and [n, k], not on the
// servers.
type encodings map[[2]int][][]byte

// putData is the DAP's put-data of pairs (one per key): ABD sends every
// server the values, EC sends server i element i of each. cache, if not
// nil, keeps the elements of a single pair across calls.
func (c *Client) putData(ctx context.Context, cfg *Config, items map[string]pair, cache encodings) ([]NextC, error) {
	var build func(i int) *Request
	if cfg.DAP == EC {
		elems := make(map[string][][]byte, len(items))
		code := [2]int{cfg.N(), cfg.K}
		for k, p := range items {
			if e, ok := cache[code]; ok && len(items) == 1 {
				elems[k] = e
				continue
			}
			e, err := Encode(p.Value, cfg.N(), cfg.K)
			if err != nil {
				return nil, err
			}
			elems[k] = e
			if cache != nil && len(items) == 1 {
				cache[code] = e
			}
		}
		build = func(i int) *Request {
			req := &Request{Items: make([]Item, 0, len(items))}
			for k, p := range items {
				req.Items = append(req.Items, Item{Key: k, Tag: p.Tag, Value: elems[k][i]})
			}
			return req
		}
	} else {
		its := make([]Item, 0, len(items))
		for k, p := range items {
			its = append(its, Item{Key: k, Tag: p.Tag, Value: p.Value})
		}
		build = func(int) *Request { return &Request{Items: its} }
	}
	resps, err := c.quorum(ctx, cfg, OpPutData, cfg.Quorum(), build)
	if err != nil {
		return nil, err
	}
	return pointers(resps), nil
}

// getNextConfig asks a majority of cfg for its successor.
func (c *Client) getNextConfig(ctx context.Context, cfg *Config) (NextC, error) {
	resps, err := c.quorum(ctx, cfg, OpReadConfig, cfg.Majority(), func(int) *Request { return &Request{} })
	if err != nil {
		return NextC{}, err
	}
	return bestPointer(pointers(resps)), nil
}

// putConfig writes a pointer to a majority of cfg; gc also drops cfg's data.
func (c *Client) putConfig(ctx context.Context, cfg *Config, x NextC, gc bool) error {
	op := OpWriteConfig
	if gc {
		op = OpGCConfig
	}
	_, err := c.quorum(ctx, cfg, op, cfg.Majority(), func(int) *Request { return &Request{Next: x} })
	if err == nil {
		c.announce(cfg.ID, x)
	}
	return err
}
