package ares

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ares-torture/torture/deadline"
	"go.opentelemetry.io/otel/trace"
)

// ErrUnavailable is wrapped by the errors of phases that no quorum
// answered.
var ErrUnavailable = errors.New("quorum unavailable")

// QuorumError says which servers did not answer a phase in time.
type QuorumError struct {
	Op      Op
	Config  uint64
	Need    int
	Got     int
	Missing []string // servers asked that did not answer
	// NotAsked are the servers a thrifty phase had not asked yet when it
	// failed (ClientOptions.Thrifty).
	NotAsked []string
	Errs     map[string]string // the last error of each, where there was one
	Cause    error             // why the wait ended: the context's error, or a server's refusal (RefusedError) that left too few servers for a quorum
}

func (e *QuorumError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s on configuration %d: %d of %d needed replies", e.Op, e.Config, e.Got, e.Need)
	if len(e.Missing) > 0 {
		b.WriteString("; no answer from ")
		for i, id := range e.Missing {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(id)
			if msg := e.Errs[id]; msg != "" {
				fmt.Fprintf(&b, " (%s)", msg)
			}
		}
	}
	if len(e.NotAsked) > 0 {
		fmt.Fprintf(&b, "; not asked yet: %s", strings.Join(e.NotAsked, ", "))
	}
	if e.Cause != nil {
		fmt.Fprintf(&b, ": %v", e.Cause)
	}
	return b.String()
}

// Unwrap lets errors.Is find ErrUnavailable and the context's error.
func (e *QuorumError) Unwrap() []error { return []error{ErrUnavailable, e.Cause} }

var reqIDs atomic.Uint64

type reply struct {
	from int
	resp *Response
	err  error
}

// quorum sends build(i)'s request to every server i of cfg and gathers
// replies until need distinct servers answered or ctx ends. A server that
// fails or stays silent for the retry interval is asked again (every
// request is idempotent); the interval doubles on each attempt so that a
// large transfer eventually has the time it needs. Each server is counted
// once.
func (c *Client) quorum(ctx context.Context, cfg *Config, op Op, need int, build func(i int) *Request) ([]*Response, error) {
	if c.opts.Bug == BugShortQuorum && need > 1 {
		need--
	}
	n := cfg.N()
	if need > n {
		need = n
	}
	ctx, span := c.tracer.Start(ctx, phaseName(op), trace.WithAttributes(AttrConfig.Int64(int64(cfg.ID)), AttrNeed.Int(need)))
	got, err := c.gather(ctx, cfg, op, need, build)
	span.SetAttributes(AttrGot.Int(len(got)))
	endSpan(span, err)
	return got, err
}

// gather is quorum's work, under the phase's span.
func (c *Client) gather(ctx context.Context, cfg *Config, op Op, need int, build func(i int) *Request) ([]*Response, error) {
	n := cfg.N()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan reply, n)
	// Every request names its configuration by index and digest and
	// describes it, so that a server holding another configuration under
	// that index refuses instead of misreading its data.
	desc, digest := cfg.Clone(), cfg.Digest()
	reqs := make([]*Request, n)
	avail := 0
	for i := range reqs {
		if reqs[i] = build(i); reqs[i] != nil {
			avail++
		}
	}
	// Whom to ask, in order; all at once unless the phase is thrifty.
	var order []int
	thrifty := c.opts.Thrifty && thriftyOp(op) && need < avail
	if thrifty {
		order = c.th.order(cfg, phaseKey(reqs), func(i int) bool { return reqs[i] != nil })
	} else {
		for i, r := range reqs {
			if r != nil {
				order = append(order, i)
			}
		}
	}
	asked := make([]bool, n)
	sent := 0
	send := func() {
		if sent == len(order) {
			return
		}
		i := order[sent]
		sent++
		asked[i] = true
		req := reqs[i]
		req.Op, req.Config, req.DAP, req.Digest, req.Described = op, cfg.ID, cfg.DAP, digest, desc
		go c.callUntilReply(ctx, i, cfg.Servers[i], req, ch)
	}
	first := len(order)
	var hedge *time.Timer
	var hedgeC <-chan time.Time
	hedged := false
	start := time.Now()
	// A large request takes its send time before any answer can come:
	// the hedge waits for it too, and a server is not late for it.
	var sending time.Duration
	for _, r := range reqs {
		if r != nil {
			sending = max(sending, sendTime(r))
		}
	}
	if thrifty {
		first = need
		hedge = time.NewTimer(c.th.hedge(c.opts.Retry) + sending)
		defer hedge.Stop()
		hedgeC = hedge.C
	}
	for sent < first {
		send()
	}
	got := make([]*Response, 0, need)
	answered := make([]bool, n)
	failed := make([]bool, n)
	errs := map[string]string{}
	// A refused request is not sent again; once too many servers refused
	// for a quorum to answer, the phase fails at once with the refusal
	// rather than at its deadline.
	refused := 0
	var refusal error
	for len(got) < need {
		var cause error
		select {
		case r := <-ch:
			if r.err != nil {
				errs[cfg.Servers[r.from].ID] = r.err.Error()
				if thrifty && !failed[r.from] {
					// One more server for each one that failed.
					failed[r.from] = true
					c.th.punish(cfg.Servers[r.from].ID)
					send()
				}
				if IsRefused(r.err) && !answered[r.from] {
					refused++
					if refusal == nil {
						refusal = r.err
					}
					if avail-refused < need {
						cause = refusal
						break
					}
				}
				continue
			}
			if !answered[r.from] {
				answered[r.from] = true
				got = append(got, r.resp)
			}
			continue
		case <-hedgeC:
			// The quorum is late: those asked that have not answered go
			// to the back of the order, and one more server is asked.
			for i, a := range asked {
				if a && !answered[i] && !failed[i] && sending == 0 {
					c.th.punish(cfg.Servers[i].ID)
				}
			}
			hedged = true
			send()
			if sent < len(order) {
				hedge.Reset(c.th.hedge(c.opts.Retry) + sending)
			}
			continue
		case <-ctx.Done():
			cause = ctx.Err()
		}
		qe := &QuorumError{Op: op, Config: cfg.ID, Need: need, Got: len(got), Errs: errs, Cause: cause}
		for i, ok := range answered {
			switch {
			case ok:
			case asked[i] || reqs[i] == nil:
				qe.Missing = append(qe.Missing, cfg.Servers[i].ID)
			default:
				qe.NotAsked = append(qe.NotAsked, cfg.Servers[i].ID)
			}
		}
		sort.Strings(qe.Missing)
		sort.Strings(qe.NotAsked)
		return got, qe
	}
	if thrifty && !hedged {
		// Only quorums that answered in time set the hedge delay: a
		// hedged phase took the delay itself, and counting it would
		// grow the delay at every hedge.
		c.th.took(time.Since(start))
	}
	return got, nil
}

// largeRequest and minSendRate size the first wait of a large request:
// a 192 MiB put takes seconds to send, so resending it every Retry made
// each server receive it about five times over (issue 14). Smaller
// requests keep Retry alone, and with it their schedules.
const (
	largeRequest = 1 << 20
	minSendRate  = 50 << 20 // bytes per second
)

// sendTime is how long req's values may take to send at minSendRate, for
// requests of largeRequest bytes or more; 0 otherwise.
func sendTime(req *Request) time.Duration {
	n := 0
	for _, it := range req.Items {
		n += len(it.Value)
	}
	if n < largeRequest {
		return 0
	}
	return time.Duration(n) * time.Second / minSendRate
}

// callUntilReply calls one server until it answers or ctx ends, reporting
// each failure (so the quorum error can name it) and the final reply.
func (c *Client) callUntilReply(ctx context.Context, i int, to Node, req *Request, ch chan<- reply) {
	wait := c.opts.Retry + sendTime(req)
	for attempt := 0; ; attempt++ {
		r := *req
		r.ID = reqIDs.Add(1)
		actx, cancel := context.WithTimeout(ctx, wait)
		actx, span := c.tracer.Start(actx, "call", trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(AttrServer.String(to.ID), AttrAttempt.Int(attempt)))
		resp, err := c.opts.Transport.Call(actx, to, &r)
		if err != nil && ctx.Err() != nil {
			// The phase ended (its quorum answered, or the operation
			// gave up): this call was abandoned, not failed.
			span.SetAttributes(AttrAbandoned.Bool(true))
			err = nil
		}
		endSpan(span, err)
		cancel()
		if err == nil && resp != nil && resp.ID != 0 && resp.ID != r.ID {
			err = fmt.Errorf("reply %d to request %d", resp.ID, r.ID)
		}
		if err == nil && resp != nil {
			select {
			case ch <- reply{from: i, resp: resp}:
			case <-ctx.Done():
			}
			return
		}
		if err == nil {
			err = errors.New("empty reply")
		}
		if ctx.Err() != nil {
			return
		}
		if IsRefused(err) {
			// The server will refuse it again: report it (the quorum
			// counts refusals, so this one must arrive) and stop.
			select {
			case ch <- reply{from: i, err: err}:
			case <-ctx.Done():
			}
			return
		}
		select {
		case ch <- reply{from: i, err: err}:
		default:
		}
		// Back off before asking again when the failure was fast (a refused
		// connection), so a dead server is not hammered.
		if deadline.Sleep(ctx, c.opts.Retry/4) != nil {
			return
		}
		if wait < 8*time.Second {
			wait *= 2
		}
	}
}
