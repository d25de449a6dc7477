package sim

import (
	"flag"
	"sync"
	"testing"
	"testing/synctest"
)

// The simulation runs inside a testing/synctest bubble: the Go runtime
// gives it a fake clock that moves only when every goroutine of the bubble
// is durably blocked, and synctest.Wait lets the scheduler wait until the
// code under test has done everything one delivery set off. That is what
// makes the real ares.Server and ares.Client (goroutines, channels, timers,
// context deadlines) run one step at a time without a line of simulation
// code in them. A clock of our own would have meant a clock interface
// through every timer and context of ares and the harness, and a way to
// know that every goroutine is blocked, which only the runtime knows.
//
// synctest.Test needs a *testing.T. A test passes its own (TestBubble);
// the torture binary hosts one with testing.Main, the supported entry
// point for programs that run tests themselves, in a goroutine that
// serves bubbles for the life of the process.

// Bubble runs f inside a synctest bubble and returns when f and every
// goroutine it started have returned.
type Bubble func(f func())

// TestBubble runs bubbles under t.
func TestBubble(t *testing.T) Bubble {
	return func(f func()) { synctest.Test(t, func(*testing.T) { f() }) }
}

type bubbleJob struct {
	f     func()
	done  chan struct{}
	panic any // what the bubble panicked with (a deadlock of its goroutines)
}

var (
	hostOnce sync.Once
	hostJobs chan *bubbleJob
)

// InBubble runs f inside a synctest bubble hosted by this process. It may
// be called from many goroutines at once; each call gets its own bubble.
// A panic of the bubble (synctest's, when every goroutine of it is blocked
// for good) is raised again in the caller, so that one deadlocked run is
// that run's failure, not the process's. In a test binary the tests' own
// flags are already registered, so tests use TestBubble instead.
func InBubble(f func()) {
	if testing.Testing() {
		panic("sim.InBubble in a test binary: use sim.TestBubble(t)")
	}
	hostOnce.Do(startHost)
	j := &bubbleJob{f: f, done: make(chan struct{})}
	hostJobs <- j
	<-j.done
	if j.panic != nil {
		panic(j.panic)
	}
}

func startHost() {
	hostJobs = make(chan *bubbleJob)
	// testing.Main parses os.Args unless flags were parsed: parse none, so
	// the torture command line stays the torture command's own.
	testing.Init()
	if !flag.Parsed() {
		_ = flag.CommandLine.Parse(nil)
	}
	host := func(t *testing.T) {
		for j := range hostJobs {
			go func() {
				defer close(j.done)
				defer func() { j.panic = recover() }()
				synctest.Test(t, func(*testing.T) { j.f() })
			}()
		}
	}
	all := func(string, string) (bool, error) { return true, nil }
	// The host test never returns, so testing.Main never exits the process.
	go testing.Main(all, []testing.InternalTest{{Name: "sim", F: host}}, nil, nil)
}
