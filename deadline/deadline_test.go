package deadline

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// TestDeadlineWinsTies: a timer that fires at the deadline's instant sees
// the context ended, whichever goroutine the runtime ran first. Before
// this package, sleep-then-ctx.Err() said "live" in some of these runs.
func TestDeadlineWinsTies(t *testing.T) {
	for range 200 {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
			defer cancel()
			if err := Sleep(ctx, 5*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Sleep to the deadline: %v, want DeadlineExceeded", err)
			}
		})
	}
}

func TestErr(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := Sleep(ctx, time.Millisecond); err != nil {
			t.Fatalf("Sleep well before the deadline: %v", err)
		}
		if Passed(ctx) {
			t.Fatal("Passed before the deadline")
		}
		cancel()
		if !errors.Is(Err(ctx), context.Canceled) {
			t.Fatalf("Err after cancel: %v", Err(ctx))
		}
		if Err(context.Background()) != nil || Sleep(context.Background(), 0) != nil {
			t.Fatal("a context without deadline ended")
		}
	})
}
