package harness

import (
	"os"
	"runtime"
	"strconv"
	"testing"
)

// TestServerProcs: each server gets its share of the cores, at least one;
// a GOMAXPROCS in the controller's environment is passed on as it is.
func TestServerProcs(t *testing.T) {
	t.Setenv("GOMAXPROCS", "")
	os.Unsetenv("GOMAXPROCS")
	n := runtime.NumCPU()
	for pool, want := range map[int]int{5: max(1, n/5), 1: n, 10 * n: 1, 0: n} {
		if got := ServerProcs(pool); got != strconv.Itoa(want) {
			t.Errorf("ServerProcs(%d) = %s, want %d", pool, got, want)
		}
	}
	t.Setenv("GOMAXPROCS", "3")
	if got := ServerProcs(5); got != "3" {
		t.Errorf("with GOMAXPROCS=3 set: %s", got)
	}
}
