package local

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/history"
	"github.com/ares-torture/torture/workloads"
)

var (
	benchBinOnce sync.Once
	benchBin     string
	benchBinErr  error
)

// serverBin builds cmd/ares-server once for the benchmarks.
func serverBin(b *testing.B) string {
	benchBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ares-bench-")
		if err != nil {
			benchBinErr = err
			return
		}
		benchBin = filepath.Join(dir, "ares-server")
		out, err := exec.Command("go", "build", "-o", benchBin, "../../cmd/ares-server").CombinedOutput()
		if err != nil {
			benchBinErr = fmt.Errorf("build ares-server: %v\n%s", err, out)
		}
	})
	if benchBinErr != nil {
		b.Fatal(benchBinErr)
	}
	return benchBin
}

// BenchmarkClients measures what the harness costs: 10 closed-loop
// clients on 5 local servers (ABD, 8 keys, half reads, 64 B values),
// through the toxiproxy links with every operation recorded, against the
// same clients connected directly with nothing recorded. ops/s is the
// figure.
//
//	go test -run '^$' -bench Clients -benchtime 5000x ./harness/local
func BenchmarkClients(b *testing.B) {
	for _, mode := range []struct {
		name           string
		direct, record bool
	}{{"proxied+recorded", false, true}, {"direct+unrecorded", true, false}} {
		b.Run(mode.name, func(b *testing.B) {
			dir := b.TempDir()
			c, err := New(Options{RunDir: dir, Pool: 5, ServerBin: serverBin(b), Direct: mode.direct})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			defer c.Stop(ctx, "")
			if err := c.Start(ctx); err != nil {
				b.Fatal(err)
			}
			initial := &ares.Config{Servers: c.Pool(), DAP: ares.ABD}
			var rec *harness.Recorder
			if mode.record {
				w, err := history.Create(filepath.Join(dir, "history.jsonl"))
				if err != nil {
					b.Fatal(err)
				}
				defer w.Close()
				rec = harness.NewRecorder(w, time.Now())
			}
			const clients = 10
			wopts := workloads.Options{Workload: "register", Keys: 8, ReadRatio: 0.5, ValueSize: 64}
			var left atomic.Int64
			left.Store(int64(b.N))
			var wg sync.WaitGroup
			b.ResetTimer()
			t0 := time.Now()
			for i := 0; i < clients; i++ {
				cl, err := c.NewClient(ctx, harness.ClientName(i), harness.ClientSpec{Initial: initial, PB: true, GC: true})
				if err != nil {
					b.Fatal(err)
				}
				gen, err := workloads.New(wopts, 1, i)
				if err != nil {
					b.Fatal(err)
				}
				wg.Go(func() {
					defer cl.Close()
					for left.Add(-1) >= 0 {
						op := gen.Next()
						inv := history.Op{Type: history.Invoke, Process: i, F: op.F, Key: op.Key, Value: op.Value}
						if rec != nil {
							rec.Append(inv)
						}
						var err error
						var got []byte
						if op.F == history.FWrite {
							err = cl.Write(ctx, op.Key, gen.Payload(op))
						} else {
							got, err = cl.Read(ctx, op.Key)
						}
						if err != nil {
							b.Error(err)
							return
						}
						if rec != nil {
							inv.Type, inv.Value = history.Ok, op.Value
							if op.F == history.FRead {
								inv.Value = harness.ReadValue(got)
							}
							rec.Append(inv)
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "ops/s")
		})
	}
}
