package ares

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/reedsolomon"
)

// codecs caches one Reed-Solomon encoder per (n, k); they are safe for
// concurrent use and costly to build.
var codecs sync.Map // [2]int -> reedsolomon.Encoder

func codec(n, k int) (reedsolomon.Encoder, error) {
	key := [2]int{n, k}
	if e, ok := codecs.Load(key); ok {
		return e.(reedsolomon.Encoder), nil
	}
	if k < 1 || k >= n {
		return nil, fmt.Errorf("ec needs 1 <= k < n, got k=%d n=%d", k, n)
	}
	e, err := reedsolomon.New(k, n-k)
	if err != nil {
		return nil, fmt.Errorf("reed-solomon [%d,%d]: %w", n, k, err)
	}
	codecs.Store(key, e)
	return e, nil
}

// Encode splits value into n coded elements of which any k rebuild it. The
// value's length travels in an 8-byte header so that padding can be cut.
func Encode(value []byte, n, k int) ([][]byte, error) {
	enc, err := codec(n, k)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 8+len(value))
	binary.BigEndian.PutUint64(buf, uint64(len(value)))
	copy(buf[8:], value)
	shards, err := enc.Split(buf)
	if err != nil {
		return nil, fmt.Errorf("ec split: %w", err)
	}
	if err := enc.Encode(shards); err != nil {
		return nil, fmt.Errorf("ec encode: %w", err)
	}
	return shards, nil
}

// Decode rebuilds a value from n element slots, of which at least k hold
// elements (the others nil).
func Decode(elems [][]byte, n, k int) ([]byte, error) {
	enc, err := codec(n, k)
	if err != nil {
		return nil, err
	}
	if len(elems) != n {
		return nil, fmt.Errorf("ec decode: %d element slots, want %d", len(elems), n)
	}
	shards := make([][]byte, n)
	have, size := 0, -1
	for i, e := range elems {
		if e == nil {
			continue
		}
		if size >= 0 && len(e) != size {
			return nil, fmt.Errorf("ec decode: elements of different sizes (%d and %d)", size, len(e))
		}
		size = len(e)
		shards[i] = e
		have++
	}
	if have < k {
		return nil, fmt.Errorf("ec decode: %d elements, need %d", have, k)
	}
	if err := enc.ReconstructData(shards); err != nil {
		return nil, fmt.Errorf("ec reconstruct: %w", err)
	}
	total := size * k
	if total < 8 {
		return nil, errors.New("ec decode: elements too short for the header")
	}
	out := make([]byte, 0, total)
	for i := 0; i < k; i++ {
		out = append(out, shards[i]...)
	}
	length := binary.BigEndian.Uint64(out)
	if length > uint64(total-8) {
		return nil, fmt.Errorf("ec decode: header says %d bytes, elements hold %d", length, total-8)
	}
	return out[8 : 8+length], nil
}
