package aresrpc_test

import (
	"context"
	"fmt"
	"net"
	"testing"

	"google.golang.org/grpc"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/ares/aresrpc"
	"github.com/ares-torture/torture/ares/store"
)

// startPool serves n ARES servers over gRPC on loopback, each on a durable
// store in a temporary directory, as ares-server does.
func startPool(b *testing.B, n int) []ares.Node {
	b.Helper()
	var pool []ares.Node
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("s%d", i+1)
		st, err := store.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		srv, err := ares.NewServer(st, ares.ServerOptions{ID: id})
		if err != nil {
			b.Fatal(err)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		gs := grpc.NewServer(aresrpc.ServerOptions()...)
		aresrpc.Register(gs, srv)
		go gs.Serve(lis)
		b.Cleanup(func() { gs.Stop(); st.Close() })
		pool = append(pool, ares.Node{ID: id, Addr: lis.Addr().String()})
	}
	return pool
}

// BenchmarkReadAfterReconfigs is the shape of Table II of the ARES II
// slides: the read latency of a client that knows only the initial
// configuration, after a reconfigurer moved the system through 12 more
// configurations that are either all finalized, or left pending (11
// pending and the initial one finalized: reconfigurers that crashed before
// finalizing). Variants: plain ARES, ARES+PB, ARES+PB+GC. Configurations
// are ABD on 5 of a pool of 7 servers, each a different 5.
//
// "finalized" uses one long-lived reconfigurer: by the spec its GC points
// only the configurations it still knows (its predecessor, after its own
// cseq was trimmed) at the new one, so old configurations form a chain
// c0 -> c1 -> ... that a fresh reader walks. "finalized-fresh" starts a new
// reconfigurer for each change, which knows c0 and points it straight at
// the newest finalized configuration: the reader's walk is one hop.
func BenchmarkReadAfterReconfigs(b *testing.B) {
	for _, scenario := range []string{"pending", "finalized", "finalized-fresh"} {
		for _, size := range []int{1 << 10, 1 << 20} {
			for _, v := range []struct {
				name   string
				pb, gc bool
			}{{"ARES", false, false}, {"ARES+PB", true, false}, {"ARES+PB+GC", true, true}} {
				name := fmt.Sprintf("%s/%dKiB/%s", scenario, size>>10, v.name)
				b.Run(name, func(b *testing.B) {
					benchReadAfterReconfigs(b, scenario, size, v.pb, v.gc)
				})
			}
		}
	}
}

func benchReadAfterReconfigs(b *testing.B, scenario string, size int, pb, gc bool) {
	pending := scenario == "pending"
	pool := startPool(b, 7)
	tr := aresrpc.NewTransport()
	b.Cleanup(func() { tr.Close() })
	cfgOf := func(i int) *ares.Config {
		c := &ares.Config{DAP: ares.ABD}
		for j := 0; j < 5; j++ {
			c.Servers = append(c.Servers, pool[(i+j)%len(pool)])
		}
		return c
	}
	initial := cfgOf(0)
	ctx := context.Background()
	client := func(name string) *ares.Client {
		c, err := ares.NewClient(ares.ClientOptions{ID: name, Initial: initial, Transport: tr, PB: pb, GC: gc})
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	value := make([]byte, size)
	w := client("w")
	if err := w.Write(ctx, "k", value); err != nil {
		b.Fatal(err)
	}
	rc := client("reconfigurer")
	n := 12
	if pending {
		n = 11
	}
	for i := 1; i <= n; i++ {
		if scenario == "finalized-fresh" {
			rc = client(fmt.Sprintf("reconfigurer-%d", i))
		}
		var err error
		if pending {
			_, err = rc.InstallPending(ctx, cfgOf(i))
		} else {
			_, err = rc.Reconfig(ctx, cfgOf(i))
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	for b.Loop() {
		// A new reader each time: it starts from the initial configuration
		// and must find its way through the sequence.
		r := client("r")
		v, err := r.Read(ctx, "k")
		if err != nil {
			b.Fatal(err)
		}
		if len(v) != size {
			b.Fatalf("read %d bytes, want %d", len(v), size)
		}
	}
}
