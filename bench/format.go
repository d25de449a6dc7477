package bench

import (
	"fmt"
	"time"

	"github.com/ares-torture/torture/harness"
)

// SizeName writes a byte count the way the benches name sizes: 64KiB,
// 1MiB, 1000B.
func SizeName(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// MSText writes milliseconds with two or three significant digits, or
// seconds from 1000 ms on.
func MSText(ms float64) string {
	if ms >= 1000 {
		return fmt.Sprintf("%.2fs", ms/1000)
	}
	if ms >= 10 {
		return fmt.Sprintf("%.0fms", ms)
	}
	return fmt.Sprintf("%.1fms", ms)
}

// ShapeLine names the options a run's shape sets, so a table can be read
// without the source.
func ShapeLine(o harness.Options) string {
	s := fmt.Sprintf("servers %d, clients %d, keys %d, read-ratio %g, nemesis %s every %s, time %s",
		o.Servers, o.Clients, o.Keys, o.ReadRatio, o.Nemesis, o.NemesisInterval, o.Time)
	if o.Rate > 0 {
		s += fmt.Sprintf(", rate %g/s", o.Rate)
	}
	if o.Ops > 0 {
		s += fmt.Sprintf(", ops %d", o.Ops)
	}
	if o.Backend == "sim" {
		s += " (simulated time)"
	}
	return s
}

// durMS writes a duration in milliseconds, two decimals.
func durMS(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
