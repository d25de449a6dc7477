package sim

import (
	"time"

	"github.com/ares-torture/torture/harness"
)

// DefaultOptions are the defaults of a sim run (torture sim): 1,000
// operations of 5 clients at 2,000 operations per simulated second, every
// fault, a new one every 25 ms of simulated time. Simulated time is cheap
// and faults are what finds bugs, so they come much faster than on the
// real backends.
func DefaultOptions() harness.Options {
	o := harness.DefaultOptions()
	o.Backend = "sim"
	o.Clients = 5
	o.Keys = 4
	o.Ops = 1000
	o.Rate = 2000
	o.Time = harness.Duration(30 * time.Second)
	o.Nemesis = "all"
	o.Reconfigurers = 2
	o.NemesisInterval = harness.Duration(25 * time.Millisecond)
	o.OpTimeout = harness.Duration(time.Second)
	o.Settle = harness.Duration(100 * time.Millisecond)
	return o
}
