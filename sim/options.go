package sim

import (
	"time"

	"github.com/ares-torture/torture/harness"
)

// DefaultOptions are the defaults of a sim run (torture sim): 1,000
// operations of 5 clients at 200 operations per simulated second, every
// fault, a new one every 10 ms of simulated time, two reconfigurers.
// Simulated idle time costs nothing and faults are what finds bugs, so
// faults come much more often per operation than on the real backends.
func DefaultOptions() harness.Options {
	o := harness.DefaultOptions()
	o.Backend = "sim"
	o.Clients = 5
	o.Keys = 4
	o.Ops = 1000
	o.Rate = 200
	o.Time = harness.Duration(30 * time.Second)
	o.Nemesis = "all"
	o.Reconfigurers = 2
	// Spans cost CPU that a thousand seeds feel, and simulated durations
	// say nothing of where real time goes: on only when asked.
	o.Trace = false
	o.NemesisInterval = harness.Duration(10 * time.Millisecond)
	o.OpTimeout = harness.Duration(time.Second)
	o.Settle = harness.Duration(100 * time.Millisecond)
	return o
}
