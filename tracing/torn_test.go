package tracing

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPrepareFile(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, in, want string }{
		{"whole lines", "{}\n{}\n", "{}\n{}\n"},
		{"torn last line", "{}\n{}\n{\"resou", "{}\n{}\n"},
		{"only a torn line", "{\"resou", ""},
		{"empty", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name+".json")
			if err := os.WriteFile(p, []byte(c.in), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := PrepareFile(p); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
	// A missing file in a missing directory: the directory is made.
	p := filepath.Join(dir, "sub", "s1.json")
	if err := PrepareFile(p); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(p)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("PrepareFile created %s", p)
	}
}
