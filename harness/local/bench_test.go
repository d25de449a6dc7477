package local

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	benchBinOnce sync.Once
	benchBin     string
	benchBinErr  error
)

// serverBin builds cmd/ares-server once for the benchmarks and the tests
// that run servers.
func serverBin(b testing.TB) string {
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
// through the fault-injecting links with every operation recorded, against
// the same clients connected directly with nothing recorded; both thrifty,
// as a local run's clients are by default. ops/s is the figure. The work
// is Throughput's, which `torture bench overhead` runs by duration,
// alternating the two modes.
//
//	go test -run '^$' -bench Clients -benchtime 5000x ./harness/local
func BenchmarkClients(b *testing.B) {
	for _, mode := range []struct {
		name           string
		direct, record bool
	}{{"proxied+recorded", false, true}, {"direct+unrecorded", true, false}} {
		b.Run(mode.name, func(b *testing.B) {
			res, err := Throughput(context.Background(), ThroughputOptions{
				Dir: b.TempDir(), ServerBin: serverBin(b), Servers: 5, Clients: 10, Keys: 8, ReadRatio: 0.5,
				ValueSize: 64, Seed: 1, Ops: int64(b.N), Direct: mode.direct, Record: mode.record, Thrifty: true,
				Started: b.ResetTimer,
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(res.OpsPerSec, "ops/s")
		})
	}
}
