package workloads

import (
	"bytes"
	"fmt"
	"hash/fnv"
)

// sep ends the value id in a payload. Value ids must not contain it; the
// generator's ids ("c3-17") never do.
const sep = '\n'

// fillerAlphabet keeps payloads printable, so `ares get` shows them as text.
const fillerAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"

// Encode returns the payload of a written value: the value id, a newline,
// and a deterministic filler up to size bytes (at least len(value)+1). The
// filler depends on the id and on the total size, so a payload that was
// truncated, extended or stitched together from other writes fails Decode.
// value must be non-empty and contain no newline (the empty payload is the
// initial value); the generator's values satisfy both.
func Encode(value string, size int) []byte {
	n := max(size, len(value)+1)
	b := make([]byte, n)
	copy(b, value)
	b[len(value)] = sep
	fill(b[len(value)+1:], value, n)
	return b
}

// Decode returns the value id of a payload and checks its filler. Empty (or
// nil) bytes are the initial value and decode to "". A corrupt payload gives
// an error naming the problem.
func Decode(b []byte) (string, error) {
	if len(b) == 0 {
		return "", nil
	}
	i := bytes.IndexByte(b, sep)
	if i < 0 {
		return "", fmt.Errorf("corrupt payload of %d bytes: no value id separator (starts %q)", len(b), prefix(b))
	}
	id := string(b[:i])
	if id == "" {
		return "", fmt.Errorf("corrupt payload of %d bytes: empty value id", len(b))
	}
	want := make([]byte, len(b)-i-1)
	fill(want, id, len(b))
	got := b[i+1:]
	if !bytes.Equal(got, want) {
		j := 0
		for j < len(got) && got[j] == want[j] {
			j++
		}
		return id, fmt.Errorf("corrupt payload for value %s: filler differs at byte %d of %d", id, i+1+j, len(b))
	}
	return id, nil
}

func prefix(b []byte) []byte {
	if len(b) > 16 {
		return b[:16]
	}
	return b
}

// fill writes the filler of value id in a payload of total size n.
func fill(dst []byte, id string, n int) {
	h := fnv.New64a()
	h.Write([]byte(id))
	x := h.Sum64() ^ uint64(n)*0x9e3779b97f4a7c15
	for i := 0; i < len(dst); {
		// splitmix64: fast, and plenty for detecting mixed-up bytes.
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		for k := 0; k < 10 && i < len(dst); k++ {
			dst[i] = fillerAlphabet[z&63]
			z >>= 6
			i++
		}
	}
}
