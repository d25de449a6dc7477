package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
)

// TestReadWriteKillRestart writes and reads through gRPC, SIGKILLs a
// server, writes while it is down, restarts it on the same data directory,
// then stops as many other servers as the DAP tolerates so that every
// quorum must include the restarted one, and reads the latest values.
func TestReadWriteKillRestart(t *testing.T) {
	for _, dc := range dapCases {
		t.Run(dc.name, func(t *testing.T) {
			c := startCluster(t, 5)
			client, _ := newClient(t, c.config(dc.dap, dc.k), "e2e")
			ctx := opCtx(t, 2*time.Minute)
			const keys = 8
			latest := map[string]string{}
			write := func(key, val string) {
				t.Helper()
				if err := client.Write(ctx, key, []byte(val)); err != nil {
					t.Fatalf("write %s=%s: %v", key, val, err)
				}
				latest[key] = val
			}
			check := func(when string) {
				t.Helper()
				for key, want := range latest {
					got, err := client.Read(ctx, key)
					if err != nil {
						t.Fatalf("%s: read %s: %v", when, key, err)
					}
					if string(got) != want {
						t.Fatalf("%s: read %s = %q; want %q", when, key, got, want)
					}
				}
			}
			if v, err := client.Read(ctx, "never-written"); err != nil || len(v) != 0 {
				t.Fatalf("read of a new key = %q, %v; want the empty initial value", v, err)
			}
			for i := range keys {
				write(fmt.Sprintf("k%d", i), fmt.Sprintf("v1-%d", i))
			}
			write("empty", "")
			check("all up")

			s1 := c.servers[0]
			s1.kill(t)
			for i := range keys / 2 {
				write(fmt.Sprintf("k%d", i), fmt.Sprintf("v2-%d", i))
			}
			check("s1 killed")

			s1.start(t)
			// Every quorum now includes s1: with f others down, the
			// remaining n-f servers are exactly a quorum.
			for _, s := range c.servers[1 : 1+dc.f] {
				s.kill(t)
			}
			check("s1 restarted, others down")
			for i := range keys {
				write(fmt.Sprintf("k%d", i), fmt.Sprintf("v3-%d", i))
			}
			check("after writes through s1")
		})
	}
}

// TestServerDurableAcrossKill sends put-data straight to one server, kills
// it with SIGKILL as soon as it acknowledged, and checks that the restarted
// server still holds the tag and the value.
func TestServerDurableAcrossKill(t *testing.T) {
	if err := putKillQuery(t); err != nil {
		t.Fatal(err)
	}
}

// TestVolatileBugIsCaught is the control of the test above: a server that
// acknowledges writes it keeps only in memory must fail it.
func TestVolatileBugIsCaught(t *testing.T) {
	if err := putKillQuery(t, "--bug", string(ares.BugVolatile)); err == nil {
		t.Fatal("a server started with --bug volatile kept its state across kill -9; the durability test has no teeth")
	}
}

func putKillQuery(t *testing.T, serverArgs ...string) error {
	c := startCluster(t, 1, serverArgs...)
	s := c.servers[0]
	_, tr := newClient(t, c.config(ares.ABD, 0), "raw")
	ctx := opCtx(t, time.Minute)
	val := make([]byte, 4096)
	if _, err := rand.Read(val); err != nil {
		t.Fatal(err)
	}
	cfg := c.config(ares.ABD, 0)
	tag := ares.Tag{TS: 7, WID: "w-e2e"}
	node := ares.Node{ID: s.id, Addr: s.addr}
	const keys = 20
	for i := range keys {
		key := fmt.Sprintf("d%d", i)
		_, err := tr.Call(ctx, node, describe(cfg, &ares.Request{ID: uint64(i + 1), Op: ares.OpPutData,
			Items: []ares.Item{{Key: key, Tag: tag, Value: val}}}))
		if err != nil {
			t.Fatalf("put-data %s: %v", key, err)
		}
	}
	s.kill(t)
	s.start(t, serverArgs...)
	for i := range keys {
		key := fmt.Sprintf("d%d", i)
		var resp *ares.Response
		var err error
		// The transport reconnects to the restarted server on its own.
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			resp, err = tr.Call(ctx, node, describe(cfg, &ares.Request{ID: uint64(100 + i), Op: ares.OpQueryData, Keys: []string{key}}))
			if err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Fatalf("query-data %s after restart: %v", key, err)
		}
		var last ares.Entry
		if len(resp.Objects) == 1 && len(resp.Objects[0].Entries) > 0 {
			last = resp.Objects[0].Entries[len(resp.Objects[0].Entries)-1]
		}
		if last.Tag != tag || !bytes.Equal(last.Value, val) {
			return fmt.Errorf("after kill -9 and restart %s has tag %v and %d bytes; want %v and the acknowledged value", key, last.Tag, len(last.Value), tag)
		}
	}
	return nil
}

// TestLargeValue writes and reads back a 64 MiB value with each DAP. It
// goes through the ares binary, which is built without the race detector:
// under -race the test process would pay for every byte several times over
// (an ABD read moves 5 x 64 MiB), and the point here is the real stack's
// limits, not its data races (aresrpc's own tests cover 64 MiB messages
// in-process).
func TestLargeValue(t *testing.T) {
	needBinaries(t)
	big := make([]byte, 64<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "in")
	if err := os.WriteFile(in, big, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dc := range dapCases {
		t.Run(dc.name, func(t *testing.T) {
			c := startCluster(t, 5)
			out := filepath.Join(t.TempDir(), "out")
			base := []string{"--servers", c.serverList(), "--dap", string(dc.dap), "--ec-k", "3", "--timeout", "10m"}
			start := time.Now()
			if _, errOut, code := runCLI(t, nil, append(base, "put", "big", "--file", in)...); code != 0 {
				t.Fatalf("put 64 MiB: exit %d: %s", code, errOut)
			}
			wrote := time.Since(start)
			if _, errOut, code := runCLI(t, nil, append(base, "get", "big", "--out", out)...); code != 0 {
				t.Fatalf("get 64 MiB: exit %d: %s", code, errOut)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, big) {
				t.Fatalf("read back %d bytes, not the 64 MiB written", len(got))
			}
			t.Logf("%s: 64 MiB put %v, get %v (ares processes)", dc.name, wrote.Round(time.Millisecond), (time.Since(start) - wrote).Round(time.Millisecond))
		})
	}
}
