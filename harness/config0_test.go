package harness

import (
	"slices"
	"strconv"
	"testing"

	"github.com/ares-torture/torture/ares"
)

// TestConfig0ServerArgs: the flags a backend gives a server of
// configuration 0 describe, once parsed as ares-server parses them, the
// configuration clients use (same digest); servers outside it get none.
func TestConfig0ServerArgs(t *testing.T) {
	pool := []ares.Node{{ID: "s1", Addr: "10.0.0.11:7000"}, {ID: "s2", Addr: "10.0.0.12:7000"}, {ID: "s3", Addr: "10.0.0.13:7000"}, {ID: "s4", Addr: "10.0.0.14:7000"}}
	for _, c0 := range []Config0{{Servers: 3, DAP: ares.ABD, K: 2}, {Servers: 3, DAP: ares.EC, K: 2}} {
		want, err := c0.Of(pool)
		if err != nil {
			t.Fatal(err)
		}
		args, err := c0.ServerArgs(pool, "s2")
		if err != nil {
			t.Fatal(err)
		}
		flag := func(name string) string {
			i := slices.Index(args, name)
			if i < 0 || i+1 >= len(args) {
				return ""
			}
			return args[i+1]
		}
		nodes, err := ares.ParseServers(flag("--servers"))
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		got := &ares.Config{Servers: nodes, DAP: ares.DAP(flag("--dap"))}
		if got.DAP == ares.EC {
			got.K, _ = strconv.Atoi(flag("--ec-k"))
		}
		if got.Digest() != want.Digest() {
			t.Fatalf("%v: flags %v describe %s, clients use %s", c0, args, got, want)
		}
		if args, _ := c0.ServerArgs(pool, "s4"); args != nil {
			t.Fatalf("s4 is outside configuration 0 but gets %v", args)
		}
	}
	if args, err := (Config0{}).ServerArgs(pool, "s1"); args != nil || err != nil {
		t.Fatalf("zero Config0: %v, %v", args, err)
	}
	if _, err := (Config0{Servers: 5, DAP: ares.ABD}).Of(pool); err == nil {
		t.Fatal("configuration 0 larger than the pool accepted")
	}
	if _, err := (Config0{Servers: 3, DAP: ares.EC, K: 3}).Of(pool); err == nil {
		t.Fatal("EC with k = n accepted")
	}
}
