package aresrpc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/ares-torture/torture/ares"
	pb "github.com/ares-torture/torture/ares/aresrpc/aresv1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

// Large values travel in the Stream call (see ares.proto): the request or
// response goes first without them, then their bytes in chunks. A put of a
// 192 MiB value then costs a server the value once (the buffer its chunks
// are gathered into, which the handler stores) instead of the several
// copies a single message costs (gRPC's receive buffers, the gathered
// message, the unmarshalled field), and a client sends the same value to
// every server of a quorum without marshalling it once per server.
const (
	// StreamMin is the size from which a value travels in chunks rather
	// than in the request or response message.
	StreamMin = 64 << 10
	// ChunkSize bounds one chunk. A chunk Frame is a few bytes more, and
	// stays within gRPC's largest pooled buffer (1 MiB).
	ChunkSize = 1<<20 - 64
	// MaxStreamBytes bounds the values one Stream request or response
	// sends apart; the receiver refuses to allocate more.
	MaxStreamBytes = 1 << 30
)

// streamCodecName is the content-subtype of Stream calls. Its codec is
// gRPC's proto codec, except that a chunk Frame can be received straight
// into the value it belongs to (chunkSink): the standard codec would
// unmarshal each chunk into a fresh slice, a value's size of garbage for
// the collector. The wire format is plain protobuf either way, so a peer
// with the standard codec speaks to it (a server that does not know the
// subtype falls back to proto, and so does recvChunk).
const streamCodecName = "ares-stream"

func init() {
	encoding.RegisterCodecV2(streamCodec{proto: encoding.GetCodecV2(protocodec.Name)})
}

type streamCodec struct{ proto encoding.CodecV2 }

func (c streamCodec) Name() string { return streamCodecName }

func (c streamCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c streamCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if s, ok := v.(*chunkSink); ok {
		return s.fill(data)
	}
	return c.proto.Unmarshal(data, v)
}

// chunkSink receives one chunk Frame into dst; n is how many bytes came.
type chunkSink struct {
	dst []byte
	n   int
}

var chunkTag = protowire.AppendTag(nil, 3, protowire.BytesType) // Frame.chunk

// fill parses data as a Frame holding only a chunk, as the proto codec
// marshals one, and copies the chunk into s.dst.
func (s *chunkSink) fill(data mem.BufferSlice) error {
	var head [1 + binary.MaxVarintLen64]byte
	h := 0
	for _, b := range data {
		if h += copy(head[h:], b.ReadOnlyData()); h == len(head) {
			break
		}
	}
	if h <= len(chunkTag) || head[0] != chunkTag[0] {
		return fmt.Errorf("aresrpc: got a frame that is not a chunk, while %d bytes of a value are due", len(s.dst))
	}
	size, m := protowire.ConsumeVarint(head[1:h])
	if m < 0 {
		return errors.New("aresrpc: malformed chunk frame")
	}
	off := 1 + m
	if size != uint64(data.Len()-off) {
		return errors.New("aresrpc: a chunk frame with more than the chunk")
	}
	if size == 0 || size > uint64(len(s.dst)) {
		return fmt.Errorf("aresrpc: a chunk of %d bytes, while %d bytes of the value are due", size, len(s.dst))
	}
	w := 0
	for _, b := range data {
		d := b.ReadOnlyData()
		if off >= len(d) {
			off -= len(d)
			continue
		}
		w += copy(s.dst[w:], d[off:])
		off = 0
	}
	s.n = w
	return nil
}

// msgStream is what Stream calls' two ends share.
type msgStream interface {
	SendMsg(m any) error
	RecvMsg(m any) error
}

// recvChunk receives one chunk into dst: through chunkSink when the call
// uses the stream codec, else as a Frame (a peer on the standard codec).
func recvChunk(st msgStream, dst []byte, sink bool) (int, error) {
	if sink {
		s := chunkSink{dst: dst}
		if err := st.RecvMsg(&s); err != nil {
			return 0, err
		}
		return s.n, nil
	}
	var f pb.Frame
	if err := st.RecvMsg(&f); err != nil {
		return 0, err
	}
	c, ok := f.GetBody().(*pb.Frame_Chunk)
	if !ok || len(c.Chunk) == 0 || len(c.Chunk) > len(dst) {
		return 0, fmt.Errorf("%w: got a frame that is not a chunk of at most %d bytes", errStream, len(dst))
	}
	return copy(dst, c.Chunk), nil
}

// errStream marks a Stream call's frames out of order or malformed: the
// sender's bug, not a transient failure.
var errStream = errors.New("aresrpc: malformed stream")

// slot is one value that travels in chunks: its size, and where the value
// goes once received.
type slot struct {
	size int64
	set  func([]byte)
}

// checkSlots bounds what a message announces before anything is allocated.
func checkSlots(slots []slot) error {
	var total int64
	for _, s := range slots {
		if s.size <= 0 || s.size > MaxStreamBytes-total {
			return fmt.Errorf("%w: values of more than %d bytes announced", errStream, MaxStreamBytes)
		}
		total += s.size
	}
	return nil
}

// recvValues receives the chunks of every slot, in order, each value into
// one buffer of its size, taken when its first chunk is due. A value left
// incomplete (the call ended: typically a client that gave up waiting and
// sends the request again) leaves its buffer for the next value of its
// size, which is likely the same value sent again.
func recvValues(st msgStream, slots []slot, sink bool) error {
	if err := checkSlots(slots); err != nil {
		return err
	}
	for _, s := range slots {
		buf := spares.get(s.size)
		for off := 0; off < len(buf); {
			n, err := recvChunk(st, buf[off:], sink)
			if err == io.EOF {
				err = fmt.Errorf("%w: it ended %d bytes into a value of %d", errStream, off, len(buf))
			}
			if err != nil {
				spares.put(buf)
				return err
			}
			off += n
		}
		s.set(buf)
	}
	return nil
}

// spareMin is the smallest buffer worth keeping for a retry.
const spareMin = 1 << 20

// spares keeps the buffers of values whose calls ended before they were
// complete, by size, until the garbage collector takes them (sync.Pool).
// A client's retry of a large put-data then fills the buffer its last
// attempt left, instead of each attempt costing the process the value's
// size again until a collection. Only buffers never handed on are kept:
// a handler may hold on to the values it was given.
var spares = &sparePool{pools: map[int64]*sync.Pool{}}

type sparePool struct {
	mu    sync.Mutex
	pools map[int64]*sync.Pool
}

// maxSpareSizes bounds how many sizes get a pool of their own.
const maxSpareSizes = 64

func (p *sparePool) pool(size int64, create bool) *sync.Pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	sp := p.pools[size]
	if sp == nil && create && len(p.pools) < maxSpareSizes {
		sp = new(sync.Pool)
		p.pools[size] = sp
	}
	return sp
}

// get returns a buffer of size bytes: a spare one (its contents stale, to
// be overwritten whole) or a new one.
func (p *sparePool) get(size int64) []byte {
	if size >= spareMin {
		if sp := p.pool(size, false); sp != nil {
			if b, ok := sp.Get().(*[]byte); ok {
				return *b
			}
		}
	}
	return make([]byte, size)
}

func (p *sparePool) put(b []byte) {
	if len(b) < spareMin {
		return
	}
	if sp := p.pool(int64(len(b)), true); sp != nil {
		sp.Put(&b)
	}
}

// sendValues sends each value in chunks.
func sendValues(st msgStream, vals [][]byte) error {
	for _, v := range vals {
		for len(v) > 0 {
			n := min(len(v), ChunkSize)
			if err := st.SendMsg(&pb.Frame{Body: &pb.Frame_Chunk{Chunk: v[:n]}}); err != nil {
				return err
			}
			v = v[n:]
		}
	}
	return nil
}

// apart reports whether a value travels in chunks.
func apart(v []byte) bool { return len(v) >= StreamMin }

// splitRequest takes the large values out of a converted request.
func splitRequest(r *pb.Request) (vals [][]byte) {
	for _, it := range r.GetItems() {
		if apart(it.Value) {
			vals = append(vals, it.Value)
			it.ValueSize, it.Value = int64(len(it.Value)), nil
		}
	}
	return vals
}

// requestSlots lists the values a received request announced.
func requestSlots(r *pb.Request) ([]slot, error) {
	var slots []slot
	for i, it := range r.GetItems() {
		if it == nil || it.GetValueSize() == 0 {
			continue
		}
		if len(it.GetValue()) > 0 {
			return nil, fmt.Errorf("%w: item %d has both a value and a value size", errStream, i)
		}
		slots = append(slots, slot{it.GetValueSize(), func(b []byte) { it.Value = b }})
	}
	return slots, nil
}

// splitResponse takes the large values out of a converted response.
func splitResponse(r *pb.Response) (vals [][]byte) {
	for _, o := range r.GetObjects() {
		for _, e := range o.GetEntries() {
			if apart(e.Value) {
				vals = append(vals, e.Value)
				e.ValueSize, e.Value = int64(len(e.Value)), nil
			}
		}
	}
	return vals
}

// responseSlots lists the values a received response announced.
func responseSlots(r *pb.Response) ([]slot, error) {
	var slots []slot
	for i, o := range r.GetObjects() {
		for j, e := range o.GetEntries() {
			if e == nil || e.GetValueSize() == 0 {
				continue
			}
			if len(e.GetValue()) > 0 {
				return nil, fmt.Errorf("%w: object %d entry %d has both a value and a value size", errStream, i, j)
			}
			slots = append(slots, slot{e.GetValueSize(), func(b []byte) { e.Value = b }})
		}
	}
	return slots, nil
}

// sendsApart reports whether a request goes through Stream from the
// start: it carries a large value, or it is a query-data of every key
// (a reconfiguration's transfer, whose page of small values may reach the
// server's reply bound and would hold up every other reply of a session).
// One whose reply holds a large value goes there when the session says
// so.
func sendsApart(r *ares.Request) bool {
	if r.Op == ares.OpQueryData && r.AllKeys && !r.TagsOnly {
		return true
	}
	for _, it := range r.Items {
		if apart(it.Value) {
			return true
		}
	}
	return false
}

// callStream is Transport.Call over Stream.
func callStream(ctx context.Context, cc grpc.ClientConnInterface, req *ares.Request) (*pb.Response, error) {
	// Ending the context ends the stream, whatever way this returns.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := pb.NewAresClient(cc).Stream(ctx, grpc.CallContentSubtype(streamCodecName))
	if err != nil {
		return nil, err
	}
	head := RequestToPB(req)
	vals := splitRequest(head)
	err = st.Send(&pb.Frame{Body: &pb.Frame_Request{Request: head}})
	if err == nil {
		err = sendValues(st, vals)
	}
	if err == nil {
		err = st.CloseSend()
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	// io.EOF from a send: the server ended the call; its status comes
	// with the next receive.
	var f pb.Frame
	if err := st.RecvMsg(&f); err != nil {
		return nil, err
	}
	resp := f.GetResponse()
	if resp == nil {
		return nil, fmt.Errorf("%w: the reply does not start with a response", errStream)
	}
	slots, err := responseSlots(resp)
	if err != nil {
		return nil, err
	}
	if err := recvValues(st, slots, true); err != nil {
		return nil, err
	}
	switch err := st.RecvMsg(&f); err {
	case io.EOF:
		return resp, nil
	case nil:
		return nil, fmt.Errorf("%w: a frame after the response's values", errStream)
	default:
		return nil, err
	}
}

// Stream implements aresv1.AresServer: Call with large values in chunks.
func (s *service) Stream(st pb.Ares_StreamServer) error {
	ctx := st.Context()
	sink := false
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		for _, ct := range md.Get("content-type") {
			sink = sink || ct == "application/grpc+"+streamCodecName
		}
	}
	var f pb.Frame
	if err := st.RecvMsg(&f); err != nil {
		return err
	}
	head := f.GetRequest()
	if head == nil {
		return status.Error(codes.InvalidArgument, "bad request: a stream must start with a request")
	}
	slots, err := requestSlots(head)
	if err == nil {
		err = recvValues(st, slots, sink)
	}
	if err == nil {
		switch err = st.RecvMsg(&f); err {
		case io.EOF:
			err = nil
		case nil:
			err = fmt.Errorf("%w: a frame after the request's values", errStream)
		}
	}
	if errors.Is(err, errStream) {
		return status.Errorf(codes.InvalidArgument, "bad request: %v", err)
	}
	if err != nil {
		return err
	}
	resp, err := s.call(ctx, head)
	if err != nil {
		return err
	}
	vals := splitResponse(resp)
	if err := st.Send(&pb.Frame{Body: &pb.Frame_Response{Response: resp}}); err != nil {
		return err
	}
	return sendValues(st, vals)
}
