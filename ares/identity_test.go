package ares_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
)

// TestWrongPrimitiveReadFails: a client that names configuration 0 with
// another DAP than the one its data was written with fails at once with
// the servers' reason, instead of decoding one element as the value (an
// abd read of ec(5,2) data printed the value's second half) or waiting
// for its deadline.
func TestWrongPrimitiveReadFails(t *testing.T) {
	for _, pb := range []bool{false, true} {
		c := newCluster(t, 5, 7)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		ec := c.client("ec", c.config(ares.EC, 2, 0, 1, 2, 3, 4), pb, false)
		if err := ec.Write(ctx, "k", []byte("hello-world-value-0123456789")); err != nil {
			t.Fatal(err)
		}
		abd := c.client("abd", c.config(ares.ABD, 0, 0, 1, 2, 3, 4), pb, false)
		start := time.Now()
		v, err := abd.Read(ctx, "k")
		if err == nil {
			t.Fatalf("pb=%v: read %q with the wrong primitive", pb, v)
		}
		if !ares.IsRefused(err) || !strings.Contains(err.Error(), "configuration 0 here is ec(5,2), request says abd") {
			t.Fatalf("pb=%v: %v, want a refusal naming both primitives", pb, err)
		}
		t.Logf("pb=%v: %v", pb, err)
		if errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
			t.Fatalf("pb=%v: the refusal took %v (%v)", pb, time.Since(start), err)
		}
		if err := abd.Write(ctx, "k", []byte("x")); !ares.IsRefused(err) {
			t.Fatalf("pb=%v: a write with the wrong primitive: %v", pb, err)
		}
		// The data is untouched: the right client still reads it.
		if v, err := ec.Read(ctx, "k"); err != nil || string(v) != "hello-world-value-0123456789" {
			t.Fatalf("pb=%v: %q, %v", pb, v, err)
		}
		cancel()
	}
}
