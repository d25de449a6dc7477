package local

import (
	"os"
	"runtime"
	"testing"
)

// TestServerProcs: each server gets its share of the cores, at least one,
// and none is set when the controller's environment sets GOMAXPROCS.
func TestServerProcs(t *testing.T) {
	t.Setenv("GOMAXPROCS", "")
	os.Unsetenv("GOMAXPROCS")
	if got, want := serverProcs(5), max(1, runtime.NumCPU()/5); got != want {
		t.Errorf("serverProcs(5) = %d, want %d", got, want)
	}
	if got := serverProcs(1); got != runtime.NumCPU() {
		t.Errorf("serverProcs(1) = %d, want %d", got, runtime.NumCPU())
	}
	if got := serverProcs(10 * runtime.NumCPU()); got != 1 {
		t.Errorf("serverProcs(many) = %d, want 1", got)
	}
	t.Setenv("GOMAXPROCS", "3")
	if got := serverProcs(5); got != 0 {
		t.Errorf("with GOMAXPROCS set: %d, want 0 (inherited)", got)
	}
}
