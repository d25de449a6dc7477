package ares

import (
	"testing"
	"time"
)

// TestSendTime: a large request waits for its bytes before it is resent;
// small ones keep the bare retry interval (and the sim its schedules).
func TestSendTime(t *testing.T) {
	req := func(sizes ...int) *Request {
		r := &Request{Op: OpPutData}
		for _, n := range sizes {
			r.Items = append(r.Items, Item{Key: "k", Value: make([]byte, n)})
		}
		return r
	}
	for _, c := range []struct {
		req  *Request
		want time.Duration
	}{
		{&Request{Op: OpQueryData, Keys: []string{"k"}}, 0},
		{req(64 << 10), 0},
		{req(largeRequest - 1), 0},
		{req(largeRequest/2, largeRequest/2), time.Second / 50},
		{req(100 << 20), 2 * time.Second},
	} {
		if got := sendTime(c.req); got != c.want {
			t.Errorf("%d items: sendTime = %v, want %v", len(c.req.Items), got, c.want)
		}
	}
}
