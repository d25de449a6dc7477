package ares

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/ares-torture/torture/deadline"
	"go.opentelemetry.io/otel/trace"
)

// Reconfig moves the system to a configuration with target's servers and
// DAP (target.ID is ignored) and returns it as installed, with its index.
// A reconfigurer whose proposal loses the consensus installs and finalizes
// the winner, then tries its own again.
func (c *Client) Reconfig(ctx context.Context, target *Config) (*Config, error) {
	ctx, span := c.opSpan(ctx, "reconfig")
	d, err := c.reconfig(ctx, target)
	if d != nil {
		span.SetAttributes(AttrConfig.Int64(int64(d.ID)))
	}
	endSpan(span, err)
	return d, err
}

func (c *Client) reconfig(ctx context.Context, target *Config) (*Config, error) {
	if target == nil {
		return nil, errors.New("reconfig: no target configuration")
	}
	want := target.Clone()
	want.ID = 0
	if err := want.Validate(); err != nil {
		return nil, fmt.Errorf("reconfig: %w", err)
	}
	for {
		d, err := c.reconfigOnce(ctx, want, true)
		if errors.Is(err, errBadTarget) {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("reconfig to %s: %w", want.Describe(), err)
		}
		p := d.Clone()
		p.ID = 0
		if p.Equal(want) {
			return d, nil
		}
		c.log.Info("reconfig lost the consensus; installed the winner, retrying", "winner", d)
	}
}

// InstallPending runs a reconfig up to and including the state transfer
// but does not finalize: what a reconfigurer that crashes just before
// finalizing leaves behind. It exists for tests and benchmarks of the
// traversal of pending configurations (Table II of the ARES II slides).
func (c *Client) InstallPending(ctx context.Context, target *Config) (*Config, error) {
	want := target.Clone()
	want.ID = 0
	if err := want.Validate(); err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	return c.reconfigOnce(ctx, want, false)
}

// errBadTarget marks a target refused before anything was written.
var errBadTarget = errors.New("invalid target")

// checkAddresses refuses a server id that the sequence gives another
// address: clients would reach different servers under one name.
func checkAddresses(s seq, want *Config) error {
	known := map[string]string{}
	for _, e := range s {
		for _, n := range e.Cfg.Servers {
			known[n.ID] = n.Addr
		}
	}
	for _, n := range want.Servers {
		if a, ok := known[n.ID]; ok && a != n.Addr {
			return fmt.Errorf("%w: server %s is %s in the sequence, not %s", errBadTarget, n.ID, a, n.Addr)
		}
	}
	return nil
}

// reconfigOnce runs one reconfig operation: read-config, consensus on the
// last configuration's successor, install it pending, transfer the state
// of every object, finalize, and garbage collect. It returns the decided
// configuration, which may be another reconfigurer's.
func (c *Client) reconfigOnce(ctx context.Context, want *Config, finalize bool) (*Config, error) {
	s := c.snapshot()
	defer func() { c.merge(s) }()
	if err := c.readConfig(ctx, &s); err != nil {
		return nil, err
	}
	// Checked against the whole sequence as read, before anything is
	// proposed, so that a refused target leaves the sequence untouched.
	if err := checkAddresses(s, want); err != nil {
		return nil, err
	}
	last := s.last()
	proposal := want.Clone()
	proposal.ID = last.ID + 1
	pctx, span := c.tracer.Start(ctx, "consensus", trace.WithAttributes(AttrConfig.Int64(int64(last.ID))))
	d, err := c.propose(pctx, last, proposal)
	endSpan(span, err)
	if err != nil {
		return nil, fmt.Errorf("consensus on configuration %d: %w", last.ID, err)
	}
	if err := c.putConfig(ctx, last, NextC{Cfg: d, Status: Pending}, false); err != nil {
		return nil, fmt.Errorf("install %s: %w", d, err)
	}
	s.add(NextC{Cfg: d, Status: Pending})
	uctx, span := c.tracer.Start(ctx, "update-config", trace.WithAttributes(AttrConfig.Int64(int64(d.ID))))
	superseded, err := c.updateConfig(uctx, &s, d)
	endSpan(span, err)
	if err != nil {
		return nil, fmt.Errorf("transfer state to %s: %w", d, err)
	}
	if superseded || !finalize {
		return d, nil
	}
	fctx, span := c.tracer.Start(ctx, "finalize", trace.WithAttributes(AttrConfig.Int64(int64(d.ID))))
	err = c.putConfig(fctx, last, NextC{Cfg: d, Status: Finalized}, false)
	endSpan(span, err)
	if err != nil {
		return nil, fmt.Errorf("finalize %s: %w", d, err)
	}
	s.add(NextC{Cfg: d, Status: Finalized})
	if c.opts.GC {
		if err := c.gcConfig(ctx, &s); err != nil {
			// The configuration is installed; a later GC catches up.
			c.log.Warn("garbage collection failed", "err", err)
		}
	}
	return d, nil
}

// updateConfig moves the newest pair of every object held by the
// configurations from the last finalized one up to d into d, in batched
// rounds: one get-data per configuration for each page of keys (a server
// pages at its reply budget), then put-data of that page in batches of at
// most maxPutBytes. It reports superseded when a later configuration than
// d was finalized meanwhile (its reconfigurer moved the state past d, and
// collected what d would read).
//
// The first pass runs no read-config: ARES-SPEC §4's update-config is
// get-data from seq[μ..ν+1] and put-data into seq[ν+1] only, with the
// sequence the reconfig's own read-config returned (a read-config here
// cost three rounds: read-config of ν, write-config of the pointer to d
// just installed, read-config of d; issue 14). A read-config runs only
// when a get-data finds its configuration collected (GC, §6): a later
// configuration was finalized meanwhile, which that read-config finds.
func (c *Client) updateConfig(ctx context.Context, s *seq, d *Config) (bool, error) {
	after := ""
	for pass := 0; ; pass++ {
		if pass > 0 {
			if err := c.readConfig(ctx, s); err != nil {
				return false, err
			}
			if (*s)[s.lastF()].Cfg.ID >= d.ID {
				return (*s)[s.lastF()].Cfg.ID > d.ID, nil
			}
		}
		for {
			newest, pg, err := c.gatherPage(ctx, *s, d, after)
			if errors.Is(err, errCollected) {
				break // read-config again; the pages moved so far stay moved
			}
			if err != nil {
				return false, err
			}
			if err := c.putBatches(ctx, d, newest); err != nil {
				return false, err
			}
			if !pg.more {
				return false, nil
			}
			after = pg.end
		}
	}
}

// gatherPage reads the keys that follow after from every configuration of s from
// the last finalized one up to d, and returns the newest pair of each key
// up to the page's end: the smallest end of the configurations' pages, so
// that every configuration's answer is complete for the keys returned.
func (c *Client) gatherPage(ctx context.Context, s seq, d *Config, after string) (map[string]pair, page, error) {
	newest := map[string]pair{}
	var pg page
	for _, e := range s[s.lastF():] {
		if e.Cfg.ID > d.ID {
			break
		}
		got, _, cp, skip, err := c.getDataRetry(ctx, e.Cfg, dataQuery{after: after})
		if err != nil {
			return nil, page{}, err
		}
		if skip {
			continue
		}
		if cp.more && (!pg.more || cp.end < pg.end) {
			pg = cp
		}
		for k, p := range got {
			if p.Tag.IsZero() {
				continue // never written: nothing to move
			}
			if q, ok := newest[k]; !ok || q.Tag.Less(p.Tag) {
				newest[k] = p
			}
		}
	}
	if pg.more {
		for k := range newest {
			if k > pg.end {
				delete(newest, k) // the next page reads it with every configuration's view
			}
		}
	}
	return newest, pg, nil
}

// maxPutBytes bounds the values of one put-data of update-config (one
// object may exceed it alone), keeping each message well under gRPC's
// limit however many large objects a page holds.
const maxPutBytes = 128 << 20

// putBatches writes the pairs into d in key order, in batches of at most
// maxPutBytes of values.
func (c *Client) putBatches(ctx context.Context, d *Config, pairs map[string]pair) error {
	keys := make([]string, 0, len(pairs))
	for k := range pairs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	batch := map[string]pair{}
	var size int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := c.putData(ctx, d, batch, nil)
		batch, size = map[string]pair{}, 0
		return err
	}
	for _, k := range keys {
		n := int64(len(pairs[k].Value))
		if len(batch) > 0 && size+n > maxPutBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		batch[k] = pairs[k]
		size += n
	}
	return flush()
}

// gcConfig (ARES II GC) points every configuration older than the last
// finalized one straight at it, which drops their data, and forgets them.
func (c *Client) gcConfig(ctx context.Context, s *seq) error {
	mu := s.lastF()
	target := NextC{Cfg: (*s)[mu].Cfg, Status: Finalized}
	for _, e := range (*s)[:mu] {
		if err := c.putConfig(ctx, e.Cfg, target, true); err != nil {
			return fmt.Errorf("gc %s: %w", e.Cfg, err)
		}
	}
	*s = append(seq(nil), (*s)[mu:]...)
	c.mu.Lock()
	if target.Cfg.ID > c.gcBelow {
		c.gcBelow = target.Cfg.ID
		i := c.seq.find(target.Cfg.ID)
		if i < 0 {
			c.seq.add(target)
			i = c.seq.find(target.Cfg.ID)
		}
		c.seq = append(seq(nil), c.seq[i:]...)
	}
	c.mu.Unlock()
	return nil
}

// propose runs single-decree Paxos on cfg's consensus instance, with cfg's
// servers as acceptors, and returns the decided successor, which may be
// another proposer's value.
func (c *Client) propose(ctx context.Context, cfg *Config, v *Config) (*Config, error) {
	// Ballots come from one counter per client, above every ballot seen:
	// a ballot must never carry two values, also across Reconfig calls.
	round := c.nextBallot(0)
	for {
		b := Ballot{N: round, Proposer: c.wid}
		resps, err := c.quorum(ctx, cfg, OpPrepare, cfg.Majority(), func(int) *Request { return &Request{Ballot: b} })
		if err != nil {
			return nil, err
		}
		value, ok := v, true
		var highest, seen Ballot
		for _, r := range resps {
			if !r.OK {
				ok = false
			}
			if seen.Less(r.Promised) {
				seen = r.Promised
			}
			if r.Accepted != nil && highest.Less(r.AcceptedBallot) {
				highest, value = r.AcceptedBallot, r.Accepted
			}
		}
		if ok {
			resps, err = c.quorum(ctx, cfg, OpAccept, cfg.Majority(), func(int) *Request { return &Request{Ballot: b, Value: value} })
			if err != nil {
				return nil, err
			}
			for _, r := range resps {
				if !r.OK {
					ok = false
				}
				if seen.Less(r.Promised) {
					seen = r.Promised
				}
			}
			if ok {
				return value.Clone(), nil
			}
		}
		// Another proposer got ahead: back off a random while and try a
		// higher ballot.
		round = c.nextBallot(seen.N)
		if err := deadline.Sleep(ctx, c.randN(c.opts.Retry)+c.opts.Retry/10); err != nil {
			return nil, err
		}
	}
}

// nextBallot returns a ballot number above every one this client used and
// above seen.
func (c *Client) nextBallot(seen uint64) uint64 {
	for {
		cur := c.ballot.Load()
		n := max(cur, seen) + 1
		if c.ballot.CompareAndSwap(cur, n) {
			return n
		}
	}
}
