package harness

import (
	"os"
	"runtime"
	"strconv"
)

// ServerProcs is the GOMAXPROCS to give each of pool servers that share
// this machine's cores with the controller: its share of them, at least
// one; the controller's own GOMAXPROCS when its environment sets one.
// With the runtime's default every server's scheduler spins on every core
// for work the others hold (perf: sysmon alone was 5% of the machine's
// samples); on 2 cores with 5 local servers, GOMAXPROCS=1 cut the CPU per
// operation of 10 closed-loop clients by a quarter (torture bench
// overhead, 3836-3927 -> 2881-2955 us, side by side).
func ServerProcs(pool int) string {
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		return v
	}
	return strconv.Itoa(max(1, runtime.NumCPU()/max(1, pool)))
}
