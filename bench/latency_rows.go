package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// AddLatency measures write and read over a quorum round trip, bytes per
// write and the large write, ABD and EC side by side (Latency), and adds
// their rows: ABD write, ABD read, EC write, EC read, bytes on the wire,
// the large write.
func (s *Session) AddLatency(ctx context.Context) {
	sz := s.Sizes
	names := []Row{
		{ID: RowABDWrite, Name: "ABD write latency / quorum RTT", Unit: "x"},
		{ID: RowABDRead, Name: "ABD read latency / quorum RTT", Unit: "x"},
		{ID: RowECWrite, Name: "EC write latency / quorum RTT", Unit: "x"},
		{ID: RowECRead, Name: "EC read latency / quorum RTT", Unit: "x"},
		{ID: RowWire, Name: fmt.Sprintf("bytes sent per %s write, EC / ABD", SizeName(int64(sz.WireSize))), Unit: "x"},
		{ID: RowLarge, Name: fmt.Sprintf("%s write latency, EC / ABD", SizeName(int64(sz.LargeSize))), Unit: "x"},
	}
	const servers, k, quorum = 5, 3, 3
	dir, err := s.dir("latency")
	if err != nil {
		s.fail(ctx, err, names...)
		return
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(s.Out, "latency: ABD and EC(%d,%d) clusters of ares-server side by side, %d rounds of RTT/put/write/read of %s, %d writes of %s, %d of %s\n",
		servers, k, sz.LatencyOps, SizeName(int64(sz.ValueSize)), sz.WireOps, SizeName(int64(sz.WireSize)), sz.LargeOps, SizeName(int64(sz.LargeSize)))
	t0 := time.Now()
	res, err := Latency(ctx, LatencyOptions{ServerBin: s.ServerBin, Dir: dir, Servers: servers, K: k, Quorum: quorum,
		Ops: sz.LatencyOps, ValueSize: sz.ValueSize, WireOps: sz.WireOps, WireSize: sz.WireSize,
		LargeOps: sz.LargeOps, LargeSize: sz.LargeSize, Logger: s.Log})
	if err != nil {
		fmt.Fprintf(s.Out, "  failed: %v\n", err)
		s.fail(ctx, err, names...)
		return
	}
	s.Latency = &res
	for _, d := range []DAPLatency{res.ABD, res.EC} {
		fmt.Fprintf(s.Out, "  %-3s rtt %s  quorum put %s  write %s  read %s  %s write %s, %.0f bytes sent per %s write\n", strings.ToUpper(d.DAP),
			durMS(d.RTT), durMS(d.Put), durMS(d.Write), durMS(d.Read), SizeName(int64(sz.LargeSize)), durMS(d.LargeWrite), d.WireBytesPerWrite, SizeName(int64(sz.WireSize)))
	}
	fmt.Fprintf(s.Out, "  done in %s\n", time.Since(t0).Round(time.Millisecond))
	// Rows in order: ABD write, ABD read, EC write, EC read.
	for i, d := range []DAPLatency{res.ABD, res.ABD, res.EC, res.EC} {
		r := names[i]
		op, took := "write", d.Write
		if i%2 == 1 {
			op, took = "read", d.Read
		}
		rtt := float64(d.RTT)
		if rtt <= 0 {
			s.fail(ctx, errors.New("no round trip time"), r)
			continue
		}
		// A write needs 3 round trips and one fsync: 2 round trips and
		// one quorum put (a round trip with the fsync in it), at the
		// DAP's own quorum (EC(5,3) waits for 4 fsyncs, not 3).
		lim := 2 + float64(d.Put)/rtt
		r.Value, r.Op, r.Limit = F(float64(took)/rtt), AtMost, F(lim)
		r.LimitText = fmt.Sprintf("<= 3 RTT + fsync = %sx", Num(lim))
		r.Detail = fmt.Sprintf("%s %s, RTT (read-config, %d of %d) %s, quorum put (RTT + fsync, %d of %d) %s", op, durMS(took), quorum, servers, durMS(d.RTT), d.PutQuorum, servers, durMS(d.Put))
		s.add(r)
	}
	w := names[4]
	if res.ABD.WireBytesPerWrite > 0 {
		// Framing (gRPC, HTTP/2, protobuf, the small rounds) is a few
		// hundred bytes a message: 2% over 1/k allows it.
		lim := 1 / float64(k) * 1.02
		w.Value, w.Op, w.Limit = F(res.EC.WireBytesPerWrite/res.ABD.WireBytesPerWrite), AtMost, F(lim)
		w.LimitText = fmt.Sprintf("<= 1/k = 1/%d (+2%% framing)", k)
		// The floors are the values alone, once to each server: a
		// resend (a reply later than the client's 200 ms retry) shows as
		// bytes over them.
		v := float64(sz.WireSize)
		w.Detail = fmt.Sprintf("EC %.0f B, ABD %.0f B sent per write (client's connections, all rounds; values alone: EC %.0f B, ABD %.0f B)",
			res.EC.WireBytesPerWrite, res.ABD.WireBytesPerWrite, float64(servers)*v/float64(k), float64(servers)*v)
		s.add(w)
	} else {
		s.fail(ctx, errors.New("no bytes counted"), w)
	}
	l := names[5]
	if res.ABD.LargeWrite > 0 {
		l.Value, l.Op, l.Limit = F(float64(res.EC.LargeWrite)/float64(res.ABD.LargeWrite)), AtMost, F(1)
		l.LimitText = "<= 1 (EC sends 1/k)"
		l.Detail = fmt.Sprintf("EC %s, ABD %s (median of %d)", durMS(res.EC.LargeWrite), durMS(res.ABD.LargeWrite), sz.LargeOps)
		s.add(l)
	} else {
		s.fail(ctx, errors.New("no large write timed"), l)
	}
}
