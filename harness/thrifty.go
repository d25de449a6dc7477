package harness

import "fmt"

// The values of --thrifty (Options.Thrifty): whether the run's clients
// send the requests of reads and writes to a quorum first
// (ares.ClientOptions.Thrifty).
const (
	ThriftyAuto = "auto"
	ThriftyOn   = "on"
	ThriftyOff  = "off"
)

// resolveThrifty checks o.Thrifty and turns auto into off, on every
// backend. Thrifty clients ask fewer servers, and that changes which
// interleavings a run can reach: with the retry-same-tag bug's shape a
// thrifty writer's next get-tag asks the very servers its lost put went
// to, and the local backend found the bug at the third seed instead of
// the first. A run is for finding bugs; --thrifty on buys speed (about
// 10-15% more operations per second on 5 local servers, issue 14) where
// that matters more. Empty, from a test.json of a run made before the
// option or from Options built by hand, is off too.
func (o *Options) resolveThrifty() error {
	switch o.Thrifty {
	case "", ThriftyAuto:
		o.Thrifty = ThriftyOff
	case ThriftyOn, ThriftyOff:
	default:
		return fmt.Errorf("--thrifty %q: want auto, on or off", o.Thrifty)
	}
	return nil
}
