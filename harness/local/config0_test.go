package local

import (
	"os"
	"slices"
	"testing"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/harness"
)

// TestServersToldConfig0: the members of configuration 0 start with the
// flags that tell it, the rest of the pool without.
func TestServersToldConfig0(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{RunDir: t.TempDir(), Pool: 4, ServerBin: self, Config0: harness.Config0{Servers: 3, DAP: ares.EC, K: 2}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range c.servers {
		args := serverArgs(s)
		told := slices.Contains(args, "--servers") && slices.Contains(args, "--ec-k")
		if want := s.id != "s4"; told != want {
			t.Errorf("%s: args %v; told configuration 0: %v, want %v", s.id, args, told, want)
		}
	}
}
