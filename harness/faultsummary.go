package harness

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ares-torture/torture/history"
	"github.com/ares-torture/torture/nemesis"
)

// faultSummary is the run's "faults:" line: how many of each kind were
// injected, in canonical order, and which kinds asked for were not, with
// why (the cluster cannot inject it, every try failed, or the run ended
// before its turn). "" when no fault was asked for or injected.
func faultSummary(ops []history.Op) string {
	injected := map[string]int{}
	failed := map[string]string{} // kind -> the last reason it was not applied
	var asked []string
	for _, op := range ops {
		switch {
		case op.Type == history.End && op.Fault != "":
			asked = strings.Split(op.Fault, ",")
		case op.Type == history.Nemesis && op.F == history.FStart:
			if op.Error == "" {
				injected[op.Fault]++
			} else {
				failed[op.Fault] = op.Error
			}
		}
	}
	var done, missing []string
	for _, k := range nemesis.Kinds {
		if n := injected[k]; n > 0 {
			done = append(done, fmt.Sprintf("%s %d", k, n))
			continue
		}
		if !slices.Contains(asked, k) && failed[k] == "" {
			continue
		}
		why := strings.TrimPrefix(failed[k], "not applied: ")
		switch {
		case why == "":
			why = "the run ended before its turn"
		case strings.HasPrefix(why, "unsupported"):
			why = "unsupported by this backend"
		case len([]rune(why)) > 80:
			why = string([]rune(why)[:79]) + "…"
		}
		missing = append(missing, fmt.Sprintf("%s (%s)", k, why))
	}
	if len(done) == 0 && len(missing) == 0 {
		return ""
	}
	s := "faults: " + strings.Join(done, ", ")
	if len(done) == 0 {
		s += "none injected"
	}
	if len(missing) > 0 {
		s += "; not injected: " + strings.Join(missing, "; ")
	}
	return s
}
