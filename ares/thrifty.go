package ares

import (
	"hash/fnv"
	"sync"
	"time"
)

// Thrifty quorums (ClientOptions.Thrifty). A phase needs replies from a
// quorum, not from every server; sending to all of them costs every
// server a request to handle (and a put-data an fsync) that nobody waits
// for. A thrifty phase sends to a quorum first and asks one more server
// each time one of those fails or the quorum is late (the hedge), so a
// slow or cut server costs a hedge delay, not the operation.
//
// Which quorum: for a request about one object, the servers from a place
// set by the object's key, the same for every client; for others (a
// read-config, a transfer), the servers in turn, one further at every
// phase. Either way the servers that were late or failed lately go to the
// back for penaltyFor. Keying by object keeps the servers a write reached
// and those the next read asks the same, so that the read's quorum
// agrees and it needs no write-back (in turn, nearly every ABD read after
// a write by another client had one: a put-data and its fsync more),
// while the objects spread the load, and the faults, over every server.
const (
	// hedgeMin and hedgeFactor set the hedge delay: hedgeFactor times a
	// moving average of how long the client's thrifty phases took to
	// reach their quorum, at least hedgeMin (and at most the retry
	// interval).
	hedgeMin    = 2 * time.Millisecond
	hedgeFactor = 3
	// hedgeStart is the delay before any phase was timed.
	hedgeStart = 10 * time.Millisecond
	// penaltyFor is how long a server that was late or failed goes to the
	// back of the order.
	penaltyFor = time.Second
)

// thriftyOp tells which requests a thrifty client sends to a quorum
// first: a read's get-data, put-data and read-config. Configuration
// changes (consensus, pointers, garbage collection) are rare and go to
// every server, so that each of them learns of a new configuration at
// once.
//
// A write's get-tag goes to every server too, and the first quorum to
// answer decides the tag, as without thrifty clients. Started at the
// key's place, it asked first the servers the writer's last put of the
// key had reached, and last those that had failed that put: the tag of
// a put that timed out at a minority was nearly always seen, so a
// writer that forgot its tags (the retry-same-tag bug) rarely issued
// one twice, and runs found that bug seeds later. A get-tag only reads
// tags: asking everyone costs two small requests, no fsync.
func thriftyOp(op Op) bool {
	switch op {
	case OpQueryData, OpPutData, OpReadConfig:
		return true
	}
	return false
}

// thrifty is a client's memory for choosing whom to ask.
type thrifty struct {
	// floor, start and penaltyFor replace hedgeMin, hedgeStart and
	// penaltyFor when set (tests).
	floor, start, penaltyFor time.Duration

	mu      sync.Mutex
	next    int                  // rotation: where the next phase starts
	penalty map[string]time.Time // server id -> back of the order until then
	avg     time.Duration        // moving average of a phase's time to its quorum
}

// order returns the indices of the servers of cfg to ask, in the order to
// ask them: from key's place (or, with no key, the rotation's), those
// under a penalty last. Only servers with a request (has) are listed.
func (t *thrifty) order(cfg *Config, key string, has func(i int) bool) []int {
	n := cfg.N()
	now := time.Now()
	t.mu.Lock()
	var start int
	if key != "" {
		h := fnv.New32a()
		_, _ = h.Write([]byte(key))
		start = int(h.Sum32() % uint32(n))
	} else {
		start = t.next % n
		t.next++
	}
	out := make([]int, 0, n)
	var late []int
	for j := 0; j < n; j++ {
		i := (start + j) % n
		if !has(i) {
			continue
		}
		if until, ok := t.penalty[cfg.Servers[i].ID]; ok && now.Before(until) {
			late = append(late, i)
			continue
		}
		out = append(out, i)
	}
	t.mu.Unlock()
	return append(out, late...)
}

// punish moves server id to the back of the order for penaltyFor.
func (t *thrifty) punish(id string) {
	t.mu.Lock()
	if t.penalty == nil {
		t.penalty = map[string]time.Time{}
	}
	p := penaltyFor
	if t.penaltyFor > 0 {
		p = t.penaltyFor
	}
	t.penalty[id] = time.Now().Add(p)
	t.mu.Unlock()
}

// took records that a phase reached its quorum after d.
func (t *thrifty) took(d time.Duration) {
	t.mu.Lock()
	if t.avg == 0 {
		t.avg = d
	} else {
		t.avg += (d - t.avg) / 8
	}
	t.mu.Unlock()
}

// hedge is how long to wait for the quorum before asking one more server.
func (t *thrifty) hedge(retry time.Duration) time.Duration {
	t.mu.Lock()
	avg := t.avg
	t.mu.Unlock()
	floor, start := hedgeMin, hedgeStart
	if t.floor > 0 {
		floor = t.floor
	}
	if t.start > 0 {
		start = t.start
	}
	d := avg * hedgeFactor
	if avg == 0 {
		d = start
	}
	if d < floor {
		d = floor
	}
	if d > retry {
		d = retry
	}
	return d
}

// phaseKey is the one object a phase's requests are about, or "" when
// they name none or several.
func phaseKey(reqs []*Request) string {
	key := ""
	for _, r := range reqs {
		if r == nil {
			continue
		}
		var k string
		switch {
		case len(r.Keys) == 1 && len(r.Items) == 0 && !r.AllKeys:
			k = r.Keys[0]
		case len(r.Items) == 1 && len(r.Keys) == 0:
			k = r.Items[0].Key
		default:
			return ""
		}
		if key != "" && k != key {
			return ""
		}
		key = k
	}
	return key
}
