package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestCheckTimeoutMustBePositive: --check-timeout 0 (or less) would make
// every check give up at once; torture check and torture run refuse it
// before touching anything.
func TestCheckTimeoutMustBePositive(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"check", "--check-timeout", "0", dir},
		{"check", dir, "--check-timeout", "-1s"},
		{"check", "--format", "jepsen", "--check-timeout", "0", dir},
		{"run", "--check-timeout", "0", "--store", dir},
		{"run", "--backend", "sim", "--check-timeout", "0s", "--store", dir},
	} {
		var stdout, stderr bytes.Buffer
		code := Main(args, &stdout, &stderr)
		if code != 3 || !strings.Contains(stdout.String(), "--check-timeout") || !strings.Contains(stdout.String(), "want > 0") {
			t.Errorf("%v: exit %d, stdout %q; want 3 and a usage verdict naming --check-timeout", args, code, stdout.String())
		}
	}
}
