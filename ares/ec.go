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

// ecHeader is the size of the value's length at the start of element 0.
const ecHeader = 8

// elemSize is the size of each of the elements of a value of size bytes
// (the header and the value split in k, rounded up).
func elemSize(size, k int) int { return (ecHeader + size + k - 1) / k }

// Encode splits value into n coded elements of which any k rebuild it. The
// value's length travels in an 8-byte header so that padding can be cut.
//
// The elements are those of reedsolomon's Split of the header and value
// (per bytes each, the last data element zero-padded), built with one
// pass over the value: the data elements are consecutive slices of one
// allocation that the value is appended into (append, unlike make, does
// not first zero what it is about to copy over), the parity elements of a
// second one that the encoder writes. Each element is capped at its own
// length, so appending to one never writes into the next. The caller owns
// the elements; they are not pooled, since a transport may still be
// sending them after the quorum that needed them answered.
func Encode(value []byte, n, k int) ([][]byte, error) {
	enc, err := codec(n, k)
	if err != nil {
		return nil, err
	}
	per := elemSize(len(value), k)
	var hdr [ecHeader]byte
	binary.BigEndian.PutUint64(hdr[:], uint64(len(value)))
	// A fresh allocation: hdr's capacity is 8. What append leaves past
	// the value (the padding, at most k-1 bytes here) it zeroes.
	data := append(hdr[:], value...)
	if cap(data) < k*per {
		data = append(data, make([]byte, k*per-len(data))...)
	}
	data = data[:k*per]
	parity := make([]byte, (n-k)*per)
	shards := make([][]byte, n)
	for i := range shards {
		buf, j := data, i
		if i >= k {
			buf, j = parity, i-k
		}
		shards[i] = buf[j*per : (j+1)*per : (j+1)*per]
	}
	if err := enc.Encode(shards); err != nil {
		return nil, fmt.Errorf("ec encode: %w", err)
	}
	return shards, nil
}

// Decode rebuilds a value from n element slots, of which at least k hold
// elements (the others nil).
//
// The value is rebuilt in one allocation of k elements' size: present data
// elements are copied into it, missing ones are reconstructed straight into
// their place. The returned value is a slice of it.
func Decode(elems [][]byte, n, k int) ([]byte, error) {
	enc, err := codec(n, k)
	if err != nil {
		return nil, err
	}
	if len(elems) != n {
		return nil, fmt.Errorf("ec decode: %d element slots, want %d", len(elems), n)
	}
	have, size := 0, -1
	for _, e := range elems {
		if e == nil {
			continue
		}
		if size >= 0 && len(e) != size {
			return nil, fmt.Errorf("ec decode: elements of different sizes (%d and %d)", size, len(e))
		}
		size = len(e)
		have++
	}
	if have < k {
		return nil, fmt.Errorf("ec decode: %d elements, need %d", have, k)
	}
	total := size * k
	if total < ecHeader {
		return nil, errors.New("ec decode: elements too short for the header")
	}
	out := make([]byte, total)
	shards := make([][]byte, n)
	missing := false
	for i, e := range elems {
		switch {
		case i >= k:
			shards[i] = e
		case e != nil:
			copy(out[i*size:], e)
			shards[i] = out[i*size : (i+1)*size : (i+1)*size]
		default:
			// Empty with room: reedsolomon reconstructs into it.
			shards[i] = out[i*size : i*size : (i+1)*size]
			missing = true
		}
	}
	if missing {
		if err := enc.ReconstructData(shards); err != nil {
			return nil, fmt.Errorf("ec reconstruct: %w", err)
		}
	}
	length := binary.BigEndian.Uint64(out)
	if length > uint64(total-ecHeader) {
		return nil, fmt.Errorf("ec decode: header says %d bytes, elements hold %d", length, total-ecHeader)
	}
	return out[ecHeader : ecHeader+int(length) : ecHeader+int(length)], nil
}
