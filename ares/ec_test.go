package ares

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// encodeSplit is the encoder as it was before elements were cut from
// fresh allocations: the header and value copied into a buffer, then
// reedsolomon's Split (which allocates and copies again the elements the
// buffer cannot hold), then Encode. Elements stored by servers of either
// version must decode with both; BenchmarkECEncodeLargeOverSmall measures
// both.
func encodeSplit(value []byte, n, k int) ([][]byte, error) {
	enc, err := codec(n, k)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 8+len(value))
	binary.BigEndian.PutUint64(buf, uint64(len(value)))
	copy(buf[8:], value)
	shards, err := enc.Split(buf)
	if err != nil {
		return nil, err
	}
	if err := enc.Encode(shards); err != nil {
		return nil, err
	}
	return shards, nil
}

// TestEncodeLayoutUnchanged: the elements are byte for byte those of the
// Split-based encoder, for sizes around every padding case.
func TestEncodeLayoutUnchanged(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, nk := range [][2]int{{2, 1}, {3, 2}, {5, 3}, {7, 4}, {9, 6}} {
		n, k := nk[0], nk[1]
		for _, size := range []int{0, 1, 2, 3, 5, 7, 8, 9, 63, 64, 65, 1000, 4096, 65537} {
			v := make([]byte, size)
			for i := range v {
				v[i] = byte(r.Uint32())
			}
			got, err := Encode(v, n, k)
			if err != nil {
				t.Fatal(err)
			}
			want, err := encodeSplit(v, n, k)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("[%d,%d] %d bytes: %d elements, want %d", n, k, size, len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("[%d,%d] %d bytes: element %d differs from the Split-based encoder's", n, k, size, i)
				}
				if cap(got[i]) != len(got[i]) {
					t.Fatalf("element %d: cap %d > len %d: an append would write into the next", i, cap(got[i]), len(got[i]))
				}
			}
		}
	}
}

// TestDecodeEverySubset decodes from every choice of k of the n elements
// (and from more than k), and checks the value does not share memory with
// the elements: a caller may keep one and drop the others.
func TestDecodeEverySubset(t *testing.T) {
	const n, k = 5, 3
	r := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{0, 1, 17, 1 << 10, 100_003} {
		v := make([]byte, size)
		for i := range v {
			v[i] = byte(r.Uint32())
		}
		elems, err := Encode(v, n, k)
		if err != nil {
			t.Fatal(err)
		}
		for mask := 0; mask < 1<<n; mask++ {
			in := make([][]byte, n)
			have := 0
			for i := range n {
				if mask&(1<<i) != 0 {
					in[i] = bytes.Clone(elems[i])
					have++
				}
			}
			got, err := Decode(in, n, k)
			if have < k {
				if err == nil {
					t.Fatalf("%d bytes, mask %05b: decoded from %d elements", size, mask, have)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%d bytes, mask %05b: %v", size, mask, err)
			}
			if !bytes.Equal(got, v) {
				t.Fatalf("%d bytes, mask %05b: wrong value", size, mask)
			}
			if len(got) > 0 {
				got[0] ^= 0xff
				for i, e := range in {
					if e != nil && !bytes.Equal(e, elems[i]) {
						t.Fatalf("%d bytes, mask %05b: the value shares memory with element %d", size, mask, i)
					}
				}
			}
		}
	}
}
