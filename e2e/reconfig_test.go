package e2e

import (
	"bytes"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
)

// Write on three servers with ABD, reconfigure to a disjoint set of five
// with EC, stop every old server, and read the value back, over gRPC with
// real ares-server processes. Then the same through the ares CLI.
func TestReconfigToDisjointServersOverGRPC(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real servers")
	}
	c := startCluster(t, 8)
	all := c.nodes()
	initial := &ares.Config{Servers: all[:3], DAP: ares.ABD}
	w, _ := newClient(t, initial, "w")
	ctx := opCtx(t, 60*time.Second)
	value := bytes.Repeat([]byte("ares"), 64<<10)
	if err := w.Write(ctx, "k", value); err != nil {
		t.Fatal(err)
	}
	d, err := w.Reconfig(ctx, &ares.Config{Servers: all[3:], DAP: ares.EC, K: 3})
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != 1 || d.DAP != ares.EC || d.K != 3 {
		t.Fatalf("installed %s", d)
	}
	for _, s := range c.servers[:3] {
		s.signal(t, syscall.SIGTERM)
	}
	got, err := w.Read(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, value) {
		t.Fatalf("read %d bytes, not the value written", len(got))
	}
	// A fresh client that knows the new configuration's servers only
	// through the old ones cannot get there with them all down: it must
	// say which servers did not answer.
	r, _ := newClient(t, initial, "r")
	_, err = r.Read(opCtx(t, time.Second), "k")
	if err == nil || !strings.Contains(err.Error(), "s1") {
		t.Fatalf("read through stopped servers: %v", err)
	}
}

// ares reconfig and ares configs from the command line.
func TestCLIReconfigAndConfigs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real servers")
	}
	c := startCluster(t, 6)
	ns := c.nodes()
	list := func(nodes []ares.Node) string {
		parts := make([]string, len(nodes))
		for i, n := range nodes {
			parts[i] = n.ID + "=" + n.Addr
		}
		return strings.Join(parts, ",")
	}
	initial := list(ns[:3])
	if out, errOut, code := runCLI(t, nil, "--servers", initial, "put", "k", "v1"); code != 0 {
		t.Fatalf("put: %d %s %s", code, out, errOut)
	}
	if out, errOut, code := runCLI(t, nil, "--servers", initial, "reconfig", "--to", list(ns[1:6]), "--to-dap", "ec", "--to-ec-k", "2"); code != 0 {
		t.Fatalf("reconfig: %d %s %s", code, out, errOut)
	}
	out, errOut, code := runCLI(t, nil, "--servers", initial, "configs")
	if code != 0 || !strings.Contains(out, "ec") || len(strings.Split(strings.TrimSpace(out), "\n")) < 2 {
		t.Fatalf("configs: %d %q %s", code, out, errOut)
	}
	if out, _, code := runCLI(t, nil, "--servers", initial, "get", "k"); code != 0 || strings.TrimSpace(out) != "v1" {
		t.Fatalf("get after reconfig: %d %q", code, out)
	}
	// Bad reconfigurations are refused before anything is sent.
	for _, bad := range [][]string{
		{"reconfig", "--to", ""},
		{"reconfig", "--to", ns[0].ID + "=" + ns[0].Addr + "," + ns[0].ID + "=" + ns[1].Addr},
		{"reconfig", "--to", list(ns[:3]), "--to-dap", "ec", "--to-ec-k", "3"},
		{"reconfig", "--to", ns[0].ID + "=127.0.0.1:1," + list(ns[1:3])},
		// s6 is known only from configuration 1, which this client must
		// first discover.
		{"reconfig", "--to", ns[5].ID + "=127.0.0.1:1," + list(ns[1:3])},
	} {
		_, errOut, code := runCLI(t, nil, append([]string{"--servers", initial}, bad...)...)
		if code == 0 || strings.Contains(errOut, "panic") || strings.Count(strings.TrimSpace(errOut), "\n") > 2 {
			t.Errorf("%v: exit %d, stderr %q", bad, code, errOut)
		}
	}
	out, _, _ = runCLI(t, nil, "--servers", initial, "configs")
	if n := len(strings.Split(strings.TrimSpace(out), "\n")); n > 3 {
		t.Fatalf("a refused reconfiguration changed the sequence:\n%s", out)
	}
}

// A reconfiguration moves its state in pages over gRPC: with the servers'
// reply budget at 1 MiB, twelve objects of 256 KiB take several get-data
// rounds (After and More must cross the wire, or the transfer repeats
// its first page or stops after it), and every object reads back from the
// new configuration with the old servers stopped. At the default budget
// the same paging keeps a transfer of many large objects under gRPC's
// 256 MiB message limit.
func TestReconfigPagesTheTransferOverGRPC(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real servers")
	}
	c := startCluster(t, 6, "--max-reply-bytes", fmt.Sprint(1<<20))
	all := c.nodes()
	initial := &ares.Config{Servers: all[:3], DAP: ares.ABD}
	w, _ := newClient(t, initial, "w")
	ctx := opCtx(t, time.Minute)
	value := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, 256<<10) }
	const n = 12
	for i := range n {
		if err := w.Write(ctx, fmt.Sprintf("k%02d", i), value(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Reconfig(ctx, &ares.Config{Servers: all[3:], DAP: ares.EC, K: 2}); err != nil {
		t.Fatal(err)
	}
	for _, s := range c.servers[:3] {
		s.signal(t, syscall.SIGTERM)
	}
	for i := range n {
		got, err := w.Read(ctx, fmt.Sprintf("k%02d", i))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, value(i)) {
			t.Fatalf("k%02d: read %d bytes, not the value written", i, len(got))
		}
	}
}
