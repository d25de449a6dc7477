// Package deadline tells whether a context has ended, counting a deadline
// that has come as ended even before the runtime has cancelled the
// context.
//
// A context's deadline is a timer whose function runs in a goroutine of
// its own. When another timer fires at the same instant (a nemesis hold,
// a rate limiter, a retry pause), which of the two goroutines runs first
// is the scheduler's choice; in the simulation's fake clock such ties are
// common (a 1 ms fault interval and an 18 ms run end at the same
// nanosecond), and a run then went one way or the other: the same seed
// gave two histories. Deciding by the clock instead of by the Done
// channel makes the deadline win every tie, whatever runs first.
package deadline

import (
	"context"
	"time"
)

// Err is ctx.Err(), or context.DeadlineExceeded once ctx's deadline has
// come.
func Err(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// Passed reports whether ctx has ended (Err is not nil).
func Passed(ctx context.Context) bool { return Err(ctx) != nil }

// Sleep waits d or until ctx ends, and returns Err(ctx): nil only if d
// went by with ctx still live, deadline included.
func Sleep(ctx context.Context, d time.Duration) error {
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	return Err(ctx)
}
