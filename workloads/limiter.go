package workloads

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/ares-torture/torture/deadline"
)

// Limiter spaces operations evenly to a rate shared by all clients. A nil
// *Limiter does not limit (closed loop). It is safe for concurrent use.
type Limiter struct {
	interval time.Duration
	mu       sync.Mutex
	next     time.Time
}

// NewLimiter returns a limiter of rate operations per second; 0 returns a
// nil limiter, which never waits.
func NewLimiter(rate float64) (*Limiter, error) {
	if math.IsNaN(rate) || math.IsInf(rate, 0) || rate < 0 {
		return nil, fmt.Errorf("rate must be a finite number >= 0 (0 = closed loop), got %v", rate)
	}
	if rate == 0 {
		return nil, nil
	}
	return &Limiter{interval: time.Duration(float64(time.Second) / rate)}, nil
}

// Delay holds the first slot back by d from now.
func (l *Limiter) Delay(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next = time.Now().Add(d)
}

// Wait blocks until the caller's turn or until ctx ends. Each call reserves
// the next free slot; there is no burst after an idle period, so a client
// that was stalled by a fault does not cause a flood when it returns. A slot
// reserved by a call whose ctx ends is lost.
func (l *Limiter) Wait(ctx context.Context) error {
	if err := deadline.Err(ctx); err != nil {
		return err
	}
	if l == nil || l.interval <= 0 {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	at := l.next
	l.next = at.Add(l.interval)
	l.mu.Unlock()
	d := time.Until(at)
	if d <= 0 {
		return nil
	}
	return deadline.Sleep(ctx, d)
}
