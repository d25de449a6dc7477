package ares

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Coverable objects (CoARES, ARES-SPEC §7). A coverable write names the
// version (tag) it is based on and takes effect only if that is still the
// object's latest version; otherwise it behaves as a read, write-back
// included, and returns the latest version and value, marked covered.
//
// It is not compare-and-set: two writes based on the same version that run
// concurrently can both succeed (one then covers the other's version),
// since a register emulation cannot solve consensus. What holds is the
// split of each successful write into an observation of its base and the
// installation of its new version, both within the write's interval; the
// checker tests exactly that (checker/cover.go).

// CoverResult is what a coverable write did.
type CoverResult struct {
	// OpInfo.Tag is the new version if the write took effect, else the
	// latest version it found.
	OpInfo
	// Covered says the base was no longer the latest version: nothing was
	// written but the write-back of Value.
	Covered bool
	// Value is the latest value when Covered (nil for the initial value).
	Value []byte
}

// CoverWrite writes value under key if base is still key's latest version
// (CoARES). Phase 1 is a get-data over the configurations from the last
// finalized one; phase 2 puts either the new pair or, when covered, the
// latest pair found (the read's write-back).
func (c *Client) CoverWrite(ctx context.Context, key string, base Tag, value []byte) (CoverResult, error) {
	ctx, span := c.opSpan(ctx, "cover-write", AttrKey.String(key), AttrBase.String(base.String()))
	res, err := c.coverWrite(ctx, key, base, value)
	if err == nil {
		span.SetAttributes(AttrCovered.Bool(res.Covered))
	}
	endOp(span, res.OpInfo, err)
	return res, err
}

func (c *Client) coverWrite(ctx context.Context, key string, base Tag, value []byte) (CoverResult, error) {
	s := c.snapshot()
	defer func() { c.merge(s) }() // s as it ends, not as it starts
	tr := newTrace()
	best, _, err := c.readPhase1(ctx, &s, key, tr)
	if err != nil {
		return CoverResult{OpInfo: tr.info}, fmt.Errorf("cover-write %s: %w", ShortKey(key), err)
	}
	res := CoverResult{Covered: !c.sameVersion(base, best.Tag)}
	p := best
	if !res.Covered {
		p = pair{Tag: c.nextTag(key, best.Tag), Value: value}
	} else {
		res.Value = best.Value
		tr.info.Elements = best.elems
	}
	tr.info.Tag = p.Tag
	if err := c.phase2(ctx, &s, key, p, tr); err != nil {
		return CoverResult{OpInfo: tr.info}, fmt.Errorf("cover-write %s: %w", ShortKey(key), err)
	}
	res.OpInfo = tr.info
	return res, nil
}

// sameVersion is the coverable write's test: versions compare by whole
// tag (BugCoverTSOnly compares timestamps only, so a version another
// writer made with the same timestamp passes for the base).
func (c *Client) sameVersion(base, latest Tag) bool {
	if c.opts.Bug == BugCoverTSOnly {
		return base.TS == latest.TS
	}
	return base == latest
}

// ParseTag reads a version as Tag.String prints it ("<3,w-1a2b>") or
// without the brackets ("3,w-1a2b"); "0" and "<0,>" are the initial version.
func ParseTag(s string) (Tag, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(strings.TrimPrefix(t, "<"), ">")
	ts, wid, found := strings.Cut(t, ",")
	n, err := strconv.ParseUint(strings.TrimSpace(ts), 10, 64)
	if err != nil {
		return Tag{}, fmt.Errorf("version %q: want <ts,writer-id>, e.g. <3,cli-1a2b3c4d5e6f7a8b>", s)
	}
	tag := Tag{TS: n, WID: strings.TrimSpace(wid)}
	if !found && n != 0 || n == 0 && tag.WID != "" || n > 0 && tag.WID == "" {
		return Tag{}, fmt.Errorf("version %q: want <ts,writer-id> with both parts, or <0,> for the initial version", s)
	}
	return tag, nil
}
