package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/ares/aresrpc"
	"github.com/ares-torture/torture/harness/local"
)

// LatencyOptions shape Latency: one local cluster of ares-server
// processes per DAP (fsynced bbolt stores, as in a run), one client each,
// reaching the servers directly over gRPC on loopback.
type LatencyOptions struct {
	// ServerBin is the ares-server binary; Dir an existing folder for
	// the servers' data and logs (the caller removes it).
	ServerBin, Dir string
	// Servers of each configuration (5) and EC's k (3).
	Servers, K int
	// Quorum is how many replies the baseline round trip waits for (3:
	// a majority of 5).
	Quorum int
	// Ops timed operations of each kind per DAP, of ValueSize bytes.
	Ops, ValueSize int
	// WireOps writes of WireSize bytes whose bytes on the wire are
	// counted.
	WireOps, WireSize int
	// LargeOps writes of LargeSize bytes, timed.
	LargeOps, LargeSize int
	Logger              *slog.Logger
}

// DAPLatency is what Latency measured on one DAP's cluster: medians of
// the timed operations, and the bytes the client sent per write.
type DAPLatency struct {
	DAP string `json:"dap"`
	// RTT is one read-config sent to every server, done when Quorum
	// replied: the unit the operations are measured in.
	RTT time.Duration `json:"rtt_ns"`
	// Put is one durable put-data of ValueSize bytes (a fresh tag), done
	// when the DAP's own quorum acknowledged (PutQuorum: a majority for
	// ABD, ⌈(n+k)/2⌉ for EC, what its writes wait for): a round trip and
	// an fsync.
	Put       time.Duration `json:"quorum_put_ns"`
	PutQuorum int           `json:"put_quorum"`
	Write     time.Duration `json:"write_ns"`
	Read      time.Duration `json:"read_ns"`
	// WireBytesPerWrite is what the client's connections sent (gRPC,
	// HTTP/2 and protobuf framing included) per write of WireSize bytes.
	WireBytesPerWrite float64 `json:"wire_bytes_per_write"`
	// LargeWrite is the median write of LargeSize bytes.
	LargeWrite time.Duration `json:"large_write_ns"`
}

// LatencyResult holds one DAPLatency per DAP: ABD, then EC.
type LatencyResult struct {
	ABD DAPLatency `json:"abd"`
	EC  DAPLatency `json:"ec"`
}

// wire counts the bytes its connections write and read.
type wire struct{ sent, recv atomic.Int64 }

type countingConn struct {
	net.Conn
	w *wire
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.w.sent.Add(int64(n))
	return n, err
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.w.recv.Add(int64(n))
	return n, err
}

func (w *wire) dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, w: w}, nil
}

// side is one DAP's cluster and client.
type side struct {
	dap    ares.DAP
	cfg    *ares.Config
	client *ares.Client
	tr     *aresrpc.Transport
	wire   *wire
	stop   func() error
	rtt    []float64
	put    []float64
	write  []float64
	read   []float64
	large  []float64
	ts     uint64
	// wireBytes is what one write of WireSize sent.
	wireBytes float64
}

// Latency measures, for ABD and for EC(Servers, K), the medians of a
// quorum round trip, a quorum durable put, a client write and a client
// read (Ops of each, of ValueSize bytes, interleaved so that a drift of
// the machine weighs on every kind alike, and the two DAPs' clusters run
// side by side), the bytes a write of WireSize sends, and a write of
// LargeSize bytes. Every read must return what was written.
func Latency(ctx context.Context, o LatencyOptions) (res LatencyResult, err error) {
	if o.Servers < 1 || o.K < 1 || o.K >= o.Servers || o.Quorum < 1 || o.Quorum > o.Servers {
		return res, fmt.Errorf("latency: %d servers, k %d, quorum %d", o.Servers, o.K, o.Quorum)
	}
	if o.Ops < 1 || o.ValueSize < 1 || o.WireOps < 1 || o.WireSize < 1 || o.LargeOps < 1 || o.LargeSize < 1 {
		return res, errors.New("latency: every count and size must be at least 1")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var sides []*side
	defer func() {
		for _, s := range sides {
			if serr := s.stop(); serr != nil {
				err = errors.Join(err, serr)
			}
		}
	}()
	for _, dap := range []ares.DAP{ares.ABD, ares.EC} {
		s, err := startSide(ctx, o, dap)
		if err != nil {
			return res, err
		}
		sides = append(sides, s)
	}
	val := make([]byte, o.ValueSize)
	_, _ = rand.Read(val)
	// Warm the connections and create the keys.
	for _, s := range sides {
		if err := s.client.Write(ctx, "k", val); err != nil {
			return res, fmt.Errorf("latency %s: first write: %w", s.dap, err)
		}
	}
	for range o.Ops {
		for _, s := range sides {
			if err := s.round(ctx, o.Quorum, val); err != nil {
				return res, fmt.Errorf("latency %s: %w", s.dap, err)
			}
		}
	}
	wval := make([]byte, o.WireSize)
	_, _ = rand.Read(wval)
	for _, s := range sides {
		before := s.wire.sent.Load()
		for range o.WireOps {
			if err := s.client.Write(ctx, "w", wval); err != nil {
				return res, fmt.Errorf("latency %s: %d-byte write: %w", s.dap, o.WireSize, err)
			}
		}
		s.wireBytes = float64(s.wire.sent.Load()-before) / float64(o.WireOps)
	}
	large := make([]byte, o.LargeSize)
	_, _ = rand.Read(large)
	for range o.LargeOps {
		for _, s := range sides {
			t0 := time.Now()
			if err := s.client.Write(ctx, "large", large); err != nil {
				return res, fmt.Errorf("latency %s: %d-byte write: %w", s.dap, o.LargeSize, err)
			}
			s.large = append(s.large, float64(time.Since(t0)))
		}
	}
	res.ABD, res.EC = sides[0].result(), sides[1].result()
	return res, nil
}

func startSide(ctx context.Context, o LatencyOptions, dap ares.DAP) (*side, error) {
	c, err := local.New(local.Options{RunDir: filepath.Join(o.Dir, string(dap)), Pool: o.Servers, ServerBin: o.ServerBin,
		Direct: true, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	stop := func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := c.Stop(sctx, ""); err != nil {
			return fmt.Errorf("latency %s: stop cluster: %w", dap, err)
		}
		return nil
	}
	if err := c.Start(ctx); err != nil {
		_ = stop()
		return nil, fmt.Errorf("latency %s: %w", dap, err)
	}
	w := &wire{}
	tr := aresrpc.NewTransport(aresrpc.WithDialer(w.dial))
	cfg := &ares.Config{Servers: c.Pool(), DAP: dap}
	if dap == ares.EC {
		cfg.K = o.K
	}
	cl, err := ares.NewClient(ares.ClientOptions{ID: "bench-" + string(dap), Initial: cfg, Transport: tr, Retry: 200 * time.Millisecond})
	if err != nil {
		_ = tr.Close()
		_ = stop()
		return nil, fmt.Errorf("latency %s: new client: %w", dap, err)
	}
	return &side{dap: dap, cfg: cfg, client: cl, tr: tr, wire: w, stop: func() error {
		_ = tr.Close()
		return stop()
	}}, nil
}

// round times one of each kind: round trip, quorum put, write, read.
func (s *side) round(ctx context.Context, quorum int, val []byte) error {
	t0 := time.Now()
	if err := QuorumCall(ctx, s.tr, s.cfg, quorum, &ares.Request{Op: ares.OpReadConfig}); err != nil {
		return fmt.Errorf("read-config: %w", err)
	}
	s.rtt = append(s.rtt, float64(time.Since(t0)))
	s.ts++
	req := &ares.Request{Op: ares.OpPutData,
		Items: []ares.Item{{Key: "raw", Tag: ares.Tag{TS: s.ts, WID: "bench-raw"}, Value: val}}}
	t0 = time.Now()
	if err := QuorumCall(ctx, s.tr, s.cfg, s.cfg.Quorum(), req); err != nil {
		return fmt.Errorf("put-data: %w", err)
	}
	s.put = append(s.put, float64(time.Since(t0)))
	t0 = time.Now()
	if err := s.client.Write(ctx, "k", val); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	s.write = append(s.write, float64(time.Since(t0)))
	t0 = time.Now()
	v, err := s.client.Read(ctx, "k")
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	s.read = append(s.read, float64(time.Since(t0)))
	if len(v) != len(val) {
		return fmt.Errorf("read %d bytes, wrote %d", len(v), len(val))
	}
	return nil
}

func (s *side) result() DAPLatency {
	d := func(xs []float64) time.Duration { return time.Duration(Median(xs)) }
	return DAPLatency{DAP: string(s.dap), RTT: d(s.rtt), Put: d(s.put), PutQuorum: s.cfg.Quorum(), Write: d(s.write), Read: d(s.read), LargeWrite: d(s.large),
		WireBytesPerWrite: s.wireBytes}
}

// Median of xs (the mean of the middle two for an even count; 0 for
// none); xs is not changed.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

var requestIDs atomic.Uint64

// QuorumCall sends a copy of req, naming cfg as a client does, to every
// server of cfg and returns when need of them have answered: one quorum
// round trip, without the client's retries.
func QuorumCall(ctx context.Context, tr *aresrpc.Transport, cfg *ares.Config, need int, req *ares.Request) error {
	req.Config, req.DAP, req.Digest, req.Described = cfg.ID, cfg.DAP, cfg.Digest(), cfg.Clone()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	replies := make(chan error, len(cfg.Servers))
	var wg sync.WaitGroup
	for _, n := range cfg.Servers {
		wg.Go(func() {
			r := *req
			r.ID = requestIDs.Add(1)
			_, err := tr.Call(ctx, n, &r)
			replies <- err
		})
	}
	defer func() {
		cancel()
		wg.Wait()
	}()
	var errs []error
	for range cfg.Servers {
		err := <-replies
		if err == nil {
			if need--; need == 0 {
				return nil
			}
			continue
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("no quorum: %w", errors.Join(errs...))
}
