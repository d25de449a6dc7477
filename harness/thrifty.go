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

// resolveThrifty checks o.Thrifty and turns auto into on or off: on for
// the local and docker backends, where asking every server costs each a
// request (and a put an fsync) that nobody waits for, a fifth of what 10
// clients drive on 5 local servers (issue 14); off for sim, whose seeds
// keep the schedules they had (--thrifty on tries it there). Empty, from
// a test.json of a run made before the option or from Options built by
// hand, is off: what those runs did.
//
// Asking fewer servers changes which states a run reaches. A write's
// get-tag still asks every server (ares.thriftyOp says why): keyed like
// the other phases, it hid the retry-same-tag bug for seeds.
func (o *Options) resolveThrifty() error {
	switch o.Thrifty {
	case "":
		o.Thrifty = ThriftyOff
	case ThriftyAuto:
		o.Thrifty = ThriftyOn
		if o.Backend == "sim" {
			o.Thrifty = ThriftyOff
		}
	case ThriftyOn, ThriftyOff:
	default:
		return fmt.Errorf("--thrifty %q: want auto, on or off", o.Thrifty)
	}
	return nil
}
