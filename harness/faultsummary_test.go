package harness

import (
	"testing"

	"github.com/ares-torture/torture/history"
)

func TestFaultSummary(t *testing.T) {
	start := func(kind, err string) history.Op {
		return history.Op{Type: history.Nemesis, F: history.FStart, Fault: kind, Error: err}
	}
	ops := []history.Op{
		start("kill", ""), {Type: history.Nemesis, F: history.FStop, Fault: "kill"},
		start("partition", ""), start("kill", ""),
		start("power", "not applied: unsupported: this backend cannot cut a server's power"),
		start("pause", "not applied: no servers to pause (2 of 5 down already)"),
		{Type: history.End, Fault: "partition,kill,pause,power,steer"},
	}
	want := "faults: partition 1, kill 2; not injected: pause (no servers to pause (2 of 5 down already)); power (unsupported by this backend); steer (the run ended before its turn)"
	if got := faultSummary(ops); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if got := faultSummary([]history.Op{{Type: history.End}}); got != "" {
		t.Fatalf("no faults: %q", got)
	}
	if got := faultSummary([]history.Op{{Type: history.End, Fault: "kill"}}); got != "faults: none injected; not injected: kill (the run ended before its turn)" {
		t.Fatalf("asked, none injected: %q", got)
	}
}
