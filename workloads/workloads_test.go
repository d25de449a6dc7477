package workloads

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ares-torture/torture/history"
)

func ops(t *testing.T, o Options, seed int64, client, n int) []Op {
	t.Helper()
	g, err := New(o, seed, client)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]Op, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

func TestDeterministic(t *testing.T) {
	for _, dist := range []string{Uniform, Zipf} {
		o := Options{Workload: Register, Keys: 8, ReadRatio: 0.5, Dist: dist}
		a, b := ops(t, o, 42, 3, 500), ops(t, o, 42, 3, 500)
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s: op %d differs for the same seed: %+v vs %+v", dist, i, a[i], b[i])
			}
		}
		c := ops(t, o, 43, 3, 500)
		d := ops(t, o, 42, 4, 500)
		same := func(x, y []Op) bool {
			for i := range x {
				if x[i].F != y[i].F || x[i].Key != y[i].Key {
					return false
				}
			}
			return true
		}
		if same(a, c) {
			t.Errorf("%s: another seed gave the same operations", dist)
		}
		if same(a, d) {
			t.Errorf("%s: another client gave the same operations", dist)
		}
	}
}

func TestUniqueValues(t *testing.T) {
	o := Options{Keys: 3, ReadRatio: 0.3}
	seen := map[string]bool{}
	for c := 0; c < 12; c++ {
		for _, op := range ops(t, o, 7, c, 2000) {
			if op.F != history.FWrite {
				continue
			}
			if op.Value == "" || strings.ContainsRune(op.Value, sep) {
				t.Fatalf("bad value %q", op.Value)
			}
			if seen[op.Value] {
				t.Fatalf("value %s written twice", op.Value)
			}
			seen[op.Value] = true
		}
	}
}

func TestReadRatioAndKeys(t *testing.T) {
	for _, ratio := range []float64{0, 0.25, 0.9, 1} {
		o := Options{Keys: 5, ReadRatio: ratio}
		reads := 0
		keys := map[string]int{}
		const n = 10000
		for _, op := range ops(t, o, 1, 0, n) {
			if op.F == history.FRead {
				reads++
				if op.Value != "" {
					t.Fatalf("read with a value: %+v", op)
				}
			}
			keys[op.Key]++
		}
		got := float64(reads) / n
		if got < ratio-0.05 || got > ratio+0.05 {
			t.Errorf("read ratio %v: got %v", ratio, got)
		}
		for k := range keys {
			if k < "k0" || k > "k4" || len(k) != 2 {
				t.Errorf("unexpected key %q", k)
			}
		}
		if len(keys) != 5 {
			t.Errorf("uniform over 5 keys used %d", len(keys))
		}
	}
}

func TestZipfSkew(t *testing.T) {
	counts := map[string]int{}
	for _, op := range ops(t, Options{Keys: 10, Dist: Zipf}, 1, 0, 10000) {
		counts[op.Key]++
	}
	if counts["k0"] <= counts["k9"]*3 {
		t.Errorf("zipf not skewed towards k0: %v", counts)
	}
	single := ops(t, Options{Keys: 1, Dist: Zipf}, 1, 0, 100)
	for _, op := range single {
		if op.Key != "k0" {
			t.Fatalf("single register used key %q", op.Key)
		}
	}
}

func TestLargeDefaults(t *testing.T) {
	g, err := New(Options{Workload: Large, Keys: 2, ReadRatio: 0}, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	op := g.Next()
	p := g.Payload(op)
	if len(p) != DefaultLargeValueSize {
		t.Fatalf("large payload is %d bytes", len(p))
	}
	if v, err := Decode(p); err != nil || v != op.Value {
		t.Fatalf("Decode = %q, %v; want %q", v, err, op.Value)
	}
}

func TestEncodeDecode(t *testing.T) {
	for _, size := range []int{0, 1, 5, 6, 7, 64, 1000, 1 << 20} {
		b := Encode("c3-17", size)
		if want := max(size, 6); len(b) != want {
			t.Fatalf("size %d: got %d bytes, want %d", size, len(b), want)
		}
		v, err := Decode(b)
		if err != nil || v != "c3-17" {
			t.Fatalf("size %d: Decode = %q, %v", size, v, err)
		}
	}
	for _, b := range [][]byte{nil, {}} {
		if v, err := Decode(b); err != nil || v != "" {
			t.Fatalf("Decode(%v) = %q, %v; want the initial value", b, v, err)
		}
	}
}

func TestDecodeCorrupt(t *testing.T) {
	good := Encode("c1-2", 4096)
	flip := append([]byte(nil), good...)
	flip[2000] ^= 1
	other := Encode("c1-3", 4096)
	stitched := append(append([]byte(nil), good[:2048]...), other[2048:]...)
	renamed := append([]byte("c1-3"), good[4:]...)
	cases := map[string][]byte{
		"flipped byte": flip,
		"truncated":    good[:3000],
		"extended":     append(append([]byte(nil), good...), 'x'),
		"stitched":     stitched,
		"renamed":      renamed,
		"no separator": []byte("garbage"),
		"empty id":     Encode("", 100),
	}
	for name, b := range cases {
		if v, err := Decode(b); err == nil {
			t.Errorf("%s: Decode = %q, no error", name, v)
		} else if !strings.Contains(err.Error(), "corrupt payload") {
			t.Errorf("%s: error does not name the problem: %v", name, err)
		}
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		o    Options
		want string
	}{
		{Options{Workload: "kv", Keys: 1}, "unknown workload"},
		{Options{Keys: 0}, "keys must be at least 1"},
		{Options{Keys: MaxKeys + 1}, "above the limit"},
		{Options{Keys: 1, ReadRatio: 1.5}, "read ratio"},
		{Options{Keys: 1, ReadRatio: -0.1}, "read ratio"},
		{Options{Keys: 1, ValueSize: -1}, "value size must not be negative"},
		{Options{Keys: 1, ValueSize: MaxValueSize + 1}, "above the limit"},
		{Options{Keys: 1, Dist: "pareto"}, "unknown key distribution"},
		{Options{Keys: 1, Rate: -1}, "rate"},
	}
	for _, c := range cases {
		err := c.o.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want an error containing %q", c.o, err, c.want)
		}
		if _, err := New(c.o, 1, 0); err == nil {
			t.Errorf("%+v: New accepted invalid options", c.o)
		}
	}
	for _, w := range []string{Register, Large} {
		if err := Defaults(w).Validate(); err != nil {
			t.Errorf("Defaults(%s): %v", w, err)
		}
	}
	if _, err := New(Defaults(Register), 1, -1); err == nil {
		t.Error("New accepted a negative client index")
	}
}

func TestLimiter(t *testing.T) {
	ctx := context.Background()
	var closed *Limiter
	if err := closed.Wait(ctx); err != nil {
		t.Fatalf("nil limiter: %v", err)
	}
	if l, err := NewLimiter(0); err != nil || l != nil {
		t.Fatalf("NewLimiter(0) = %v, %v; want nil, nil", l, err)
	}
	if _, err := NewLimiter(-1); err == nil {
		t.Fatal("NewLimiter(-1) accepted")
	}
	// One op per 1000 s: the first slot is now, the second never comes
	// before the context ends.
	l, err := NewLimiter(0.001)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(ctx); err != nil {
		t.Fatalf("first wait: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := l.Wait(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second wait: got %v, want the context's deadline", err)
	}
	cancel()
	if err := closed.Wait(cctx); err == nil {
		t.Fatal("nil limiter ignored an ended context")
	}
}
