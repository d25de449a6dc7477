package bench

import (
	"math"
	"strings"
	"testing"
)

func TestJudge(t *testing.T) {
	for _, c := range []struct {
		name string
		row  Row
		want string
		vs   *float64
	}{
		{"at most, under", Row{Value: F(2), Op: AtMost, Limit: F(3)}, Pass, nil},
		{"at most, equal", Row{Value: F(3), Op: AtMost, Limit: F(3)}, Pass, nil},
		{"at most, over", Row{Value: F(3.1), Op: AtMost, Limit: F(3)}, Fail, nil},
		{"at least, under", Row{Value: F(0.8), Op: AtLeast, Limit: F(0.9)}, Fail, nil},
		{"at least, over", Row{Value: F(0.95), Op: AtLeast, Limit: F(0.9)}, Pass, nil},
		{"no limit", Row{Value: F(1)}, Info, nil},
		{"no value", Row{Op: AtMost, Limit: F(1)}, Error, nil},
		{"kept", Row{Status: Skipped, Value: F(9), Op: AtMost, Limit: F(1)}, Skipped, nil},
		{"baseline", Row{Value: F(6), Baseline: F(2)}, Info, F(3)},
		{"zero baseline", Row{Value: F(6), Baseline: F(0)}, Info, nil},
	} {
		r := c.row
		r.Judge()
		if r.Status != c.want {
			t.Errorf("%s: status %q, want %q", c.name, r.Status, c.want)
		}
		if (r.VsBaseline == nil) != (c.vs == nil) || r.VsBaseline != nil && *r.VsBaseline != *c.vs {
			t.Errorf("%s: vs baseline %v, want %v", c.name, r.VsBaseline, c.vs)
		}
	}
	if F(math.NaN()) != nil || F(math.Inf(1)) != nil {
		t.Error("F kept a non-finite number")
	}
}

func TestPrint(t *testing.T) {
	rows := []Row{
		{Name: "a write", Value: F(4.25), Unit: "x", Op: AtMost, Limit: F(3), LimitText: "<= 3 RTT + fsync = 3x", Detail: "write 1ms"},
		{Name: "ops", Value: F(400), Unit: "ops/s", Baseline: F(100), LimitText: ">= 3x baseline"},
		{Name: "docker", Status: Skipped, Note: "skipped: docker unavailable"},
	}
	for i := range rows {
		rows[i].Judge()
	}
	var b strings.Builder
	Print(&b, rows)
	out := b.String()
	for _, want := range []string{"4.25x", "<= 3 RTT + fsync = 3x", "FAIL", "400 ops/s", "100 ops/s", "4.00x", "SKIPPED", "skipped: docker unavailable"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if c := Counts(rows); c[Fail] != 1 || c[Info] != 1 || c[Skipped] != 1 {
		t.Errorf("counts %v", c)
	}
}
