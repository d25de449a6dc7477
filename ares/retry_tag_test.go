package ares_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
)

// filtered is a client transport that drops the requests its rule names:
// a link cut for some kinds of message only, which places each phase of a
// write on exactly the servers a schedule needs.
type filtered struct {
	ares.Transport
	mu   sync.Mutex
	drop func(to string, op ares.Op) bool
}

func (f *filtered) set(drop func(to string, op ares.Op) bool) {
	f.mu.Lock()
	f.drop = drop
	f.mu.Unlock()
}

func (f *filtered) Call(ctx context.Context, to ares.Node, req *ares.Request) (*ares.Response, error) {
	f.mu.Lock()
	drop := f.drop
	f.mu.Unlock()
	if drop != nil && drop(to.ID, req.Op) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return f.Transport.Call(ctx, to, req)
}

// filteredClient is a client named name whose requests go through a filter.
func (c *cluster) filteredClient(name string, initial *ares.Config, bug ares.Bug) (*ares.Client, *filtered) {
	f := &filtered{Transport: c.net.Client(name)}
	cl, err := ares.NewClient(ares.ClientOptions{ID: name, Initial: initial, Transport: f, Retry: 20 * time.Millisecond, Bug: bug})
	if err != nil {
		c.t.Fatal(err)
	}
	return cl, f
}

// putOnlyTo drops put-data to every server but the named ones.
func putOnlyTo(ids ...string) func(string, ares.Op) bool {
	return func(to string, op ares.Op) bool {
		return op == ares.OpPutData && !slicesContains(ids, to)
	}
}

// nothingTo drops every request to the named servers.
func nothingTo(ids ...string) func(string, ares.Op) bool {
	return func(to string, _ ares.Op) bool { return slicesContains(ids, to) }
}

func slicesContains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

// retrySchedule is the schedule of the retry-same-tag bug: write W1 of k
// reaches s1 only and times out (an info operation); the next write W2,
// by the same client or by its renewal, runs its get-tag on a quorum
// without s1, so it finds the same maximum W1 found. It returns the
// writer's two clients (the second is the first when !renew) and v1, v2.
func retrySchedule(t *testing.T, c *cluster, initial *ares.Config, bug ares.Bug, renew bool) (v1, v2 []byte) {
	t.Helper()
	ctx := context.Background()
	w, f := c.filteredClient("w", initial, bug)
	v1 = bytes.Repeat([]byte("1"), 40)
	v2 = bytes.Repeat([]byte("2"), 40)

	f.set(putOnlyTo("s1"))
	octx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err := w.Write(octx, "k", v1)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("W1 should time out after reaching s1 only, got %v", err)
	}
	if renew {
		if w, err = w.Renew(); err != nil {
			t.Fatal(err)
		}
		// The renewal shares the transport (the same process's links).
	}
	f.set(nothingTo("s1"))
	octx, cancel = context.WithTimeout(ctx, 2*time.Second)
	err = w.Write(octx, "k", v2)
	cancel()
	if err != nil {
		t.Fatalf("W2 on a quorum without s1: %v", err)
	}
	return v1, v2
}

// sameTagTwoValues asks every server of an ABD configuration for k and
// reports a tag that two servers hold with different values.
func sameTagTwoValues(t *testing.T, c *cluster, cfg *ares.Config) (ares.Tag, bool) {
	t.Helper()
	probe := c.net.Client("probe")
	seen := map[ares.Tag][]byte{}
	for i, n := range cfg.Servers {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp, err := probe.Call(ctx, n, &ares.Request{ID: uint64(1000 + i), Op: ares.OpQueryData, Config: cfg.ID, DAP: cfg.DAP, Digest: cfg.Digest(), Described: cfg, Keys: []string{"k"}})
		cancel()
		if err != nil {
			t.Fatalf("probe %s: %v", n.ID, err)
		}
		for _, o := range resp.Objects {
			for _, e := range o.Entries {
				if v, ok := seen[e.Tag]; ok && !bytes.Equal(v, e.Value) {
					return e.Tag, true
				}
				seen[e.Tag] = e.Value
			}
		}
	}
	return ares.Tag{}, false
}

// TestRetrySameTag reproduces the schedule of the retry-same-tag bug on
// the in-memory network, for ABD (two values under one tag on different
// servers) and EC (elements of two values decoded together). With the bug
// the bad outcome must appear, without it it must not: the test fails on
// the old client, which had no per-key memory of issued tags and, when
// reused after an info write, kept its writer id.
func TestRetrySameTag(t *testing.T) {
	for _, bug := range []ares.Bug{"", ares.BugRetrySameTag} {
		for _, renew := range []bool{false, true} {
			name := "fixed"
			if bug != "" {
				name = string(bug)
			}
			if renew {
				name += "/renewed"
			} else {
				name += "/same-client"
			}
			t.Run("abd/"+name, func(t *testing.T) {
				t.Parallel()
				c := newCluster(t, 3, 1)
				initial := c.config(ares.ABD, 0, 0, 1, 2)
				retrySchedule(t, c, initial, bug, renew)
				tag, bad := sameTagTwoValues(t, c, initial)
				if bug != "" && !bad {
					t.Fatal("with the bug, no tag was found with two values")
				}
				if bug == "" && bad {
					t.Fatalf("tag %s names two values on different servers", tag)
				}
			})
			t.Run("ec/"+name, func(t *testing.T) {
				t.Parallel()
				c := newCluster(t, 5, 1)
				initial := c.config(ares.EC, 3, 0, 1, 2, 3, 4)
				v1, v2 := retrySchedule(t, c, initial, bug, renew)
				// A reader whose quorum is s1..s4 sees W1's element on s1
				// and W2's on s2..s4.
				r, f := c.filteredClient("r", initial, "")
				f.set(nothingTo("s5"))
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				got, err := r.Read(ctx, "k")
				cancel()
				bad := err != nil || (!bytes.Equal(got, v1) && !bytes.Equal(got, v2))
				if bug != "" && !bad {
					t.Fatalf("with the bug, the read returned %q", got)
				}
				if bug == "" && bad {
					t.Fatalf("read returned %q, %v; want %q", got, err, v2)
				}
			})
		}
	}
}

// TestWriteTagsIncrease: a client's tags for a key strictly increase,
// also when a get-tag quorum misses the client's own newer tag (its
// earlier write reached only a server the quorum skips) and so returns an
// older maximum.
func TestWriteTagsIncrease(t *testing.T) {
	c := newCluster(t, 3, 2)
	initial := c.config(ares.ABD, 0, 0, 1, 2)
	w, f := c.filteredClient("w", initial, "")
	ctx := context.Background()
	var prev ares.Tag
	write := func(i int, drop func(string, ares.Op) bool, timeout time.Duration, wantOK bool) ares.OpInfo {
		t.Helper()
		f.set(drop)
		octx, cancel := context.WithTimeout(ctx, timeout)
		info, err := w.WriteInfo(octx, "k", []byte{byte('a' + i)})
		cancel()
		if wantOK && err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if !wantOK && err == nil {
			t.Fatalf("write %d should have timed out", i)
		}
		if !prev.Less(info.Tag) {
			t.Fatalf("write %d: tag %s not above the previous %s", i, info.Tag, prev)
		}
		if info.Tag.WID != w.WriterID() {
			t.Fatalf("write %d: tag %s, writer id %s", i, info.Tag, w.WriterID())
		}
		prev = info.Tag
		return info
	}
	write(0, nil, 2*time.Second, true)
	// Each round leaves the newest tag on s1 alone, then writes through
	// s2 and s3, whose maximum is older than the client's last tag.
	for i := 1; i < 7; i += 2 {
		write(i, putOnlyTo("s1"), 200*time.Millisecond, false)
		info := write(i+1, nothingTo("s1"), 2*time.Second, true)
		if info.Tag.TS != prev.TS || info.Configs != 1 || info.Config != 0 {
			t.Fatalf("write %d: info %+v", i+1, info)
		}
	}
}

// TestOpInfo checks what reads and writes report besides their value.
func TestOpInfo(t *testing.T) {
	ctx := context.Background()
	t.Run("abd", func(t *testing.T) {
		c := newCluster(t, 3, 3)
		initial := c.config(ares.ABD, 0, 0, 1, 2)
		w, f := c.filteredClient("w", initial, "")
		info, err := w.WriteInfo(ctx, "k", []byte("x"))
		if err != nil || info.Tag.TS != 1 || info.Behind || info.Configs != 1 || info.Elements != 0 {
			t.Fatalf("first write: %+v, %v", info, err)
		}
		// s3 misses the second write; a quorum of s1 and s3 is behind.
		f.set(putOnlyTo("s1", "s2"))
		if _, err := w.WriteInfo(ctx, "k", []byte("y")); err != nil {
			t.Fatal(err)
		}
		r, rf := c.filteredClient("r", initial, "")
		rf.set(nothingTo("s2"))
		v, info, err := r.ReadInfo(ctx, "k")
		if err != nil || string(v) != "y" || info.Tag.TS != 2 || !info.Behind || info.Configs != 1 {
			t.Fatalf("read: %q %+v %v", v, info, err)
		}
		// The read wrote back to s3: no longer behind.
		_, info, err = r.ReadInfo(ctx, "k")
		if err != nil || info.Behind {
			t.Fatalf("second read: %+v %v", info, err)
		}
		v, info, err = r.ReadInfo(ctx, "never")
		if err != nil || v != nil || !info.Tag.IsZero() || info.Behind {
			t.Fatalf("read of the initial value: %q %+v %v", v, info, err)
		}
	})
	t.Run("ec-reconfig", func(t *testing.T) {
		c := newCluster(t, 5, 4)
		initial := c.config(ares.EC, 3, 0, 1, 2, 3, 4)
		w := c.client("w", initial, false, false)
		if _, err := w.WriteInfo(ctx, "k", []byte(strings.Repeat("z", 30))); err != nil {
			t.Fatal(err)
		}
		r := c.client("r", initial, false, false)
		v, info, err := r.ReadInfo(ctx, "k")
		if err != nil || info.Elements != 3 || info.Config != 0 || info.Configs != 1 || len(v) != 30 {
			t.Fatalf("ec read: %q %+v %v", v, info, err)
		}
		// After a finalized reconfiguration the writer goes straight to
		// c1; with c2 pending as well, it visits c1 and c2 and finishes in c2.
		rc := c.client("rc", initial, false, false)
		next, err := rc.Reconfig(ctx, c.config(ares.ABD, 0, 0, 1, 2))
		if err != nil {
			t.Fatal(err)
		}
		info, err = w.WriteInfo(ctx, "k", []byte("c1"))
		if err != nil || info.Config != next.ID || info.Configs != 1 || info.Tag.TS != 2 {
			t.Fatalf("write after reconfig: %+v %v", info, err)
		}
		pending, err := rc.InstallPending(ctx, c.config(ares.ABD, 0, 2, 3, 4))
		if err != nil {
			t.Fatal(err)
		}
		info, err = w.WriteInfo(ctx, "k", []byte("after"))
		if err != nil || info.Config != pending.ID || info.Configs != 2 || info.Tag.TS != 3 {
			t.Fatalf("write with a pending configuration: %+v %v", info, err)
		}
		v, info, err = w.ReadInfo(ctx, "k")
		if err != nil || string(v) != "after" || info.Elements != 0 || info.Configs != 2 || info.Config != pending.ID {
			t.Fatalf("abd read after reconfig: %q %+v %v", v, info, err)
		}
	})
}

// TestRenew: a renewed client has a fresh writer id (the bare name with
// retry-same-tag) and keeps the configurations its predecessor knew.
func TestRenew(t *testing.T) {
	c := newCluster(t, 3, 5)
	initial := c.config(ares.ABD, 0, 0, 1, 2)
	a := c.client("w", initial, false, false)
	rc := c.client("rc", initial, false, false)
	if _, err := rc.Reconfig(context.Background(), c.config(ares.ABD, 0, 0, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Configs(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := a.Renew()
	if err != nil {
		t.Fatal(err)
	}
	if b.WriterID() == a.WriterID() || !strings.HasPrefix(b.WriterID(), "w-") {
		t.Fatalf("writer ids %s then %s", a.WriterID(), b.WriterID())
	}
	if len(b.Sequence()) != 2 {
		t.Fatalf("renewed client knows %d configurations, want 2", len(b.Sequence()))
	}
	bugged, _ := c.filteredClient("w", initial, ares.BugRetrySameTag)
	again, err := bugged.Renew()
	if err != nil {
		t.Fatal(err)
	}
	if bugged.WriterID() != "w" || again.WriterID() != "w" {
		t.Fatalf("retry-same-tag writer ids %s, %s; want the bare name", bugged.WriterID(), again.WriterID())
	}
}
