package ares

import (
	"fmt"
	"testing"
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
