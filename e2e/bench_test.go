package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/bench"
)

// BenchmarkLatency measures one client's read and write latency over
// loopback gRPC against 5 ares-server processes, for ABD and EC(5,3), with
// 1 KiB values, and beside them the floor they are built from: one gRPC
// round trip (read-config, no disk) to all 5 servers in parallel, done when
// 3 have answered. Each operation reports x-rtt, its time over that
// baseline measured on the same cluster in the same run. quorum-put is
// the disk floor beside it: one durable 1 KiB put-data, 3 of 5 acks.
//
//	go test -run '^$' -bench Latency ./e2e
func BenchmarkLatency(b *testing.B) {
	needBinaries(b)
	val := make([]byte, 1024)
	for i := range val {
		val[i] = byte(i)
	}
	for _, dc := range dapCases {
		b.Run(dc.name, func(b *testing.B) {
			c := startCluster(b, 5)
			cfg := c.config(dc.dap, dc.k)
			client, tr := newClient(b, cfg, "bench")
			ctx := context.Background()
			// Warm the connections and create the key.
			if err := client.Write(ctx, "k", val); err != nil {
				b.Fatal(err)
			}
			var rtt float64 // ns per quorum round trip
			b.Run("quorum-rtt", func(b *testing.B) {
				for b.Loop() {
					if err := bench.QuorumCall(ctx, tr, cfg, 3, &ares.Request{Op: ares.OpReadConfig}); err != nil {
						b.Fatal(err)
					}
				}
				rtt = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			})
			// The floor of a write's disk phase: a durable put-data of
			// 1 KiB (a fresh tag each time) acknowledged by 3 of 5.
			b.Run("quorum-put", func(b *testing.B) {
				ts := uint64(0)
				for b.Loop() {
					ts++
					req := &ares.Request{Op: ares.OpPutData,
						Items: []ares.Item{{Key: "raw", Tag: ares.Tag{TS: ts, WID: "bench-raw"}, Value: val}}}
					if err := bench.QuorumCall(ctx, tr, cfg, 3, req); err != nil {
						b.Fatal(err)
					}
				}
				if rtt > 0 {
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/rtt, "x-rtt")
				}
			})
			ratio := func(b *testing.B) {
				if rtt > 0 {
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/rtt, "x-rtt")
				}
			}
			b.Run("write", func(b *testing.B) {
				for b.Loop() {
					if err := client.Write(ctx, "k", val); err != nil {
						b.Fatal(err)
					}
				}
				ratio(b)
			})
			b.Run("read", func(b *testing.B) {
				for b.Loop() {
					v, err := client.Read(ctx, "k")
					if err != nil {
						b.Fatal(err)
					}
					if len(v) != len(val) {
						b.Fatalf("read %d bytes", len(v))
					}
				}
				ratio(b)
			})
		})
	}
}

// BenchmarkReconfigTransfer times a reconfiguration that must move more
// state than one gRPC message carries: six objects of 48 MiB (288 MiB) on
// three ABD servers, moved to three others. Before update-config paged its
// transfer, this failed with ResourceExhausted. x-write is the transfer's
// time over the time the same client took to write those objects in the
// first place, measured on the same cluster in the same iteration.
//
//	go test -run '^$' -bench ReconfigTransfer -benchtime 1x ./e2e
func BenchmarkReconfigTransfer(b *testing.B) {
	needBinaries(b)
	const objects, size = 6, 48 << 20
	var write, transfer time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := startCluster(b, 6)
		all := c.nodes()
		w, _ := newClient(b, &ares.Config{Servers: all[:3], DAP: ares.ABD}, "w")
		ctx := context.Background()
		t0 := time.Now()
		for k := range objects {
			v := make([]byte, size)
			for j := range v {
				v[j] = byte(k + j)
			}
			if err := w.Write(ctx, fmt.Sprintf("k%d", k), v); err != nil {
				b.Fatal(err)
			}
		}
		write += time.Since(t0)
		b.StartTimer()
		t0 = time.Now()
		if _, err := w.Reconfig(ctx, &ares.Config{Servers: all[3:], DAP: ares.ABD}); err != nil {
			b.Fatal(err)
		}
		transfer += time.Since(t0)
		b.StopTimer() // the cluster stops at cleanup
	}
	b.ReportMetric(float64(objects*size)/(1<<20)/transfer.Seconds(), "MiB/s")
	b.ReportMetric(transfer.Seconds()/write.Seconds(), "x-write")
}
