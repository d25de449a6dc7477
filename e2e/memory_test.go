package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// largeValue is the ares command's largest value (cmd/ares MaxValue).
const largeValue = 192 << 20

// peakRSS returns the peak resident memory of process pid (VmHWM).
func peakRSS(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

func (c *cluster) peaks(t testing.TB) []int64 {
	out := make([]int64, len(c.servers))
	for i, s := range c.servers {
		s.mu.Lock()
		pid := s.cmd.Process.Pid
		s.mu.Unlock()
		out[i] = peakRSS(t, pid)
	}
	return out
}

func mib(bs []int64) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = strconv.FormatInt(b>>20, 10)
	}
	return strings.Join(parts, " ")
}

// BenchmarkLargeValueServerMemory puts a 192 MiB value through the ares
// binary into 5 fresh servers, with each DAP, then reads it back, and
// reports the servers' largest peak resident memory (VmHWM) after the put
// and after the get, in MiB. The figure of issue 14 (target: a put under
// 1 GB; 2.1 GB before it):
//
//	go test -run xxx -bench LargeValueServerMemory -benchtime 1x ./e2e
//
// A benchmark rather than a test with a bound: the figure depends on how
// many of the client's attempts overlap at a server (it resends a request
// that has not been answered within its retry interval, 200 ms doubling,
// and a 192 MiB transfer takes seconds), which depends on the machine's
// load.
func BenchmarkLargeValueServerMemory(b *testing.B) {
	needBinaries(b)
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skip("needs /proc/PID/status (VmHWM)")
	}
	val := make([]byte, largeValue)
	if _, err := rand.Read(val); err != nil {
		b.Fatal(err)
	}
	in := filepath.Join(b.TempDir(), "in")
	if err := os.WriteFile(in, val, 0o644); err != nil {
		b.Fatal(err)
	}
	for _, dc := range dapCases {
		b.Run(dc.name, func(b *testing.B) {
			var put, get []int64
			for b.Loop() {
				b.StopTimer()
				c := startCluster(b, 5)
				b.StartTimer()
				base := []string{"--servers", c.serverList(), "--dap", string(dc.dap), "--ec-k", "3", "--timeout", "10m"}
				runAres(b, append(base, "put", "big", "--file", in)...)
				p := c.peaks(b)
				out := filepath.Join(b.TempDir(), "out")
				runAres(b, append(base, "get", "big", "--out", out)...)
				g := c.peaks(b)
				if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, val) {
					b.Fatalf("read back %d bytes (%v), not the value written", len(got), err)
				}
				b.Logf("%s: servers' peak RSS MiB after the put %s, after the get %s", dc.name, mib(p), mib(g))
				put, get = append(put, slices.Max(p)), append(get, slices.Max(g))
			}
			b.ReportMetric(float64(slices.Max(put)>>20), "MiB-put-peak")
			b.ReportMetric(float64(slices.Max(get)>>20), "MiB-get-peak")
		})
	}
}

// runAres runs the ares command and fails on a non-zero exit.
func runAres(tb testing.TB, args ...string) {
	tb.Helper()
	cmd := exec.Command(cliBin, args...)
	cmd.Env = append(os.Environ(), "ARES_SERVERS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("ares %s: %v: %s", args[len(args)-3], err, stderr.String())
	}
}
