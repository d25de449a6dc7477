package nemesis

import (
	"fmt"
	"slices"
	"strings"
)

// Fault kinds, as named by --nemesis and in the history's Fault field.
const (
	Partition = "partition"
	Kill      = "kill"
	Pause     = "pause"
	Loss      = "loss"
	Latency   = "latency"
	Drop      = "drop"
	// Skew is latency that depends on which client talks to which server.
	Skew = "skew"
	// Power is a power loss: a server crashes and its disk loses what it
	// had not synced (backends with a PowerLosser).
	Power = "power"
	// Crash is a client crash in the middle of an operation: the operation
	// is indeterminate and the process restarts as a new one (backends
	// with a ClientCrasher).
	Crash = "crash"
	// Steer is quorum steering: one minimal quorum answers each phase
	// first, consecutive quorums overlapping as little as they can.
	Steer    = "steer"
	Reconfig = "reconfig"
)

// Kinds lists every fault kind in canonical order.
var Kinds = []string{Partition, Kill, Pause, Loss, Latency, Drop, Skew, Power, Crash, Steer, Reconfig}

// Parse parses a --nemesis value: a comma list of kinds, "all" (every kind)
// or "none" (no faults; so is the empty string). The result is in canonical
// order without duplicates, so that "kill,partition" and "partition,kill"
// give the same schedule for a seed.
func Parse(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return []string{}, nil
	}
	if s == "all" {
		return slices.Clone(Kinds), nil
	}
	want := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
			return nil, fmt.Errorf("empty fault name in %q", s)
		case name == "all" || name == "none":
			return nil, fmt.Errorf("%q cannot be combined with other faults in %q", name, s)
		case !slices.Contains(Kinds, name):
			return nil, fmt.Errorf("unknown fault %q (known: %s; or all, none)", name, strings.Join(Kinds, ", "))
		}
		want[name] = true
	}
	var out []string
	for _, k := range Kinds {
		if want[k] {
			out = append(out, k)
		}
	}
	return out, nil
}
