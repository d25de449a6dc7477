package ares

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

var ecSizes = []int{1 << 10, 64 << 10, 1 << 20, 16 << 20, 64 << 20}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// BenchmarkECEncode measures the EC-DAP's encoding of one value into [5,3]
// elements; bytes/s is of the value.
func BenchmarkECEncode(b *testing.B) {
	for _, size := range ecSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			v := make([]byte, size)
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := Encode(v, 5, 3); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkECDecode measures decoding from the worst k elements: the
// parity ones plus one data element, so reconstruction has work to do.
func BenchmarkECDecode(b *testing.B) {
	for _, size := range ecSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			v := make([]byte, size)
			elems, err := Encode(v, 5, 3)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			in := make([][]byte, 5)
			for b.Loop() {
				clear(in)
				in[2], in[3], in[4] = elems[2], elems[3], elems[4]
				if _, err := Decode(in, 5, 3); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkECEncodeLargeOverSmall compares the encoding rate of a 64 MiB
// value with that of 1 MiB values, per byte, in the same run: each
// iteration encodes 64 values of 1 MiB, then one of 64 MiB, so that a
// machine busy with other work slows both alike. It reports the median
// rate of each size over the iterations and large/small, the factor by
// which 64 MiB is slower per byte (the target is at most 2). "before" is
// the encoder that copied the value twice (encodeSplit, in ec_test.go),
// "after" is Encode.
func BenchmarkECEncodeLargeOverSmall(b *testing.B) {
	for _, v := range []struct {
		name string
		enc  func([]byte, int, int) ([][]byte, error)
	}{{"before", encodeSplit}, {"after", Encode}} {
		b.Run(v.name, func(b *testing.B) {
			small, large := make([]byte, 1<<20), make([]byte, 64<<20)
			var ts, tl []time.Duration
			b.SetBytes(2 * 64 << 20)
			for b.Loop() {
				start := time.Now()
				for range 64 {
					if _, err := v.enc(small, 5, 3); err != nil {
						b.Fatal(err)
					}
				}
				mid := time.Now()
				if _, err := v.enc(large, 5, 3); err != nil {
					b.Fatal(err)
				}
				ts, tl = append(ts, mid.Sub(start)), append(tl, time.Since(mid))
			}
			s, l := median(ts), median(tl)
			b.ReportMetric(float64(64<<20)/s.Seconds()/1e6, "MB/s-1MiB")
			b.ReportMetric(float64(64<<20)/l.Seconds()/1e6, "MB/s-64MiB")
			b.ReportMetric(l.Seconds()/s.Seconds(), "large/small")
		})
	}
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}
