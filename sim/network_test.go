package sim

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/ares-torture/torture/ares"
)

type echo struct{ id string }

func (e echo) Handle(_ context.Context, req *ares.Request) (*ares.Response, error) {
	return &ares.Response{ID: req.ID, From: e.id}, nil
}

// phase sends one request to every server at once, as a quorum phase does,
// and returns the servers in the order their replies came.
func phase(t *testing.T, tr ares.Transport, servers []string) []string {
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() {
			resp, err := tr.Call(context.Background(), ares.Node{ID: s}, &ares.Request{Op: ares.OpQueryTag, Config: 7})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, resp.From)
			mu.Unlock()
		})
	}
	wg.Wait()
	return order
}

// TestSteering: with steering on, each phase hears first from one minimal
// quorum, and consecutive quorums of a configuration share as few servers
// as quorums can (2q-n).
func TestSteering(t *testing.T) {
	TestBubble(t)(func() {
		n := NewNetwork(1)
		servers := []string{"s0", "s1", "s2", "s3", "s4"}
		for _, s := range servers {
			n.AddServer(s, echo{s})
		}
		n.steer = newSteering(func(uint64, ares.Op, int) int { return 3 })
		go n.Run()
		defer n.Stop()
		tr := n.Transport("c0")
		var prev []string
		for i := range 6 {
			first := slices.Clone(phase(t, tr, servers)[:3])
			slices.Sort(first)
			if want := n.steer.last[7]; !slices.Equal(first, want) {
				t.Fatalf("phase %d: first three replies from %v, steered quorum %v", i, first, want)
			}
			if prev != nil {
				shared := 0
				for _, s := range first {
					if slices.Contains(prev, s) {
						shared++
					}
				}
				if shared != 1 {
					t.Fatalf("phase %d: quorum %v shares %d servers with %v, want 1", i, first, shared, prev)
				}
			}
			prev = first
		}
	})
}

// TestDiskPowerLoss: a crash keeps unsynced writes, a power loss drops them.
func TestDiskPowerLoss(t *testing.T) {
	d := NewDisk()
	d.Apply(map[string][]byte{"a": []byte("1")}, nil)
	d.ApplyUnsynced(map[string][]byte{"a": []byte("2"), "b": []byte("x")}, nil)
	if v, _, _ := d.Get("a"); string(v) != "2" {
		t.Fatalf("unsynced write not visible: %q", v)
	}
	if lost := d.PowerLoss(); lost != 2 {
		t.Fatalf("power loss dropped %d keys, want 2", lost)
	}
	if v, _, _ := d.Get("a"); string(v) != "1" {
		t.Fatalf("after power loss a=%q, want the synced 1", v)
	}
	if _, ok, _ := d.Get("b"); ok {
		t.Fatal("unsynced b survived the power loss")
	}
	d.ApplyUnsynced(nil, []string{"a"})
	var keys []string
	d.Scan("", func(k string, _ []byte) error { keys = append(keys, k); return nil })
	if len(keys) != 0 {
		t.Fatalf("unsynced delete not visible to Scan: %v", keys)
	}
	d.Apply(nil, nil) // sync
	d.PowerLoss()
	if _, ok, _ := d.Get("a"); ok {
		t.Fatal("a synced delete came back")
	}
}
