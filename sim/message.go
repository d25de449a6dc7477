package sim

import (
	"cmp"
	"encoding/binary"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/ares-torture/torture/ares"
)

// The messages of the simulated network, their replay-stable keys and the
// scheduler's queue.

// result is what a waiting Call gets.
type result struct {
	resp *ares.Response
	err  error
}

// call is one Transport.Call waiting for its reply.
type call struct {
	done chan result // buffered: a duplicate's reply is dropped, not blocked on
	gone bool        // the caller returned (ctx ended); guarded by Network.mu
}

// message is a request or its reply. Its key (pair, seq, reply, copy) is
// the same in every replay: the sends of one client to one server follow
// the client's program order, whatever order racing goroutines reach the
// network in.
type message struct {
	p      pair
	seq    uint64
	reply  bool
	copy   int
	req    *ares.Request
	res    result
	call   *call
	span   trace.SpanContext // the caller's, carried to the server as over gRPC
	incarn int               // reply: the server incarnation that produced it
	at     time.Time
	idx    int // heap index
}

func (m *message) less(o *message) int {
	if c := m.at.Compare(o.at); c != 0 {
		return c
	}
	return keyCmp(m, o)
}

func keyCmp(m, o *message) int {
	return cmp.Or(cmp.Compare(m.p.client, o.p.client), cmp.Compare(m.p.server, o.p.server),
		cmp.Compare(m.seq, o.seq), boolCmp(m.reply, o.reply), cmp.Compare(m.copy, o.copy))
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

type queue []*message

func (q queue) Len() int           { return len(q) }
func (q queue) Less(i, j int) bool { return q[i].less(q[j]) < 0 }
func (q queue) Swap(i, j int)      { q[i], q[j] = q[j], q[i]; q[i].idx = i; q[j].idx = j }
func (q *queue) Push(x any)        { m := x.(*message); m.idx = len(*q); *q = append(*q, m) }
func (q *queue) Pop() any {
	old := *q
	m := old[len(old)-1]
	*q = old[:len(old)-1]
	return m
}

// hashLocked folds a delivery decision into the run's decision hash.
func (n *Network) hashLocked(m *message) {
	var b [96]byte
	k := append(b[:0], m.p.client...)
	k = append(k, '>')
	k = append(k, m.p.server...)
	k = binary.LittleEndian.AppendUint64(k, m.seq)
	k = binary.LittleEndian.AppendUint64(k, uint64(m.at.UnixNano()))
	k = append(k, byte(m.copy))
	if m.reply {
		k = append(k, 1)
	}
	n.hash.Write(k)
}
