package bench

import "testing"

func TestSizeName(t *testing.T) {
	for n, want := range map[int64]string{64 << 20: "64MiB", 1000: "1000B", 256 << 10: "256KiB", 1 << 30: "1GiB", 1<<20 + 1: "1048577B"} {
		if got := SizeName(n); got != want {
			t.Errorf("SizeName(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestMSText(t *testing.T) {
	for ms, want := range map[float64]string{2.04: "2.0ms", 8.44: "8.4ms", 16.2: "16ms", 1234: "1.23s"} {
		if got := MSText(ms); got != want {
			t.Errorf("MSText(%g) = %q, want %q", ms, got, want)
		}
	}
}
