package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// valueFiles lists the files in dir's values directory.
func valueFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, ValuesDir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func big(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i>>8) + seed
	}
	return b
}

// TestLargeValuesInFiles: a value of FileMin bytes or more lives in a file
// of its own, not in the database; replacing it (by a large or a small
// value) or deleting it removes its file; the values read back are right
// before and after a reopen.
func TestLargeValuesInFiles(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	v1 := big(FileMin, 1)
	if err := s.Apply(map[string][]byte{"k": v1, "small": []byte("x")}, nil); err != nil {
		t.Fatal(err)
	}
	files := valueFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("value files %v; want one, for k", files)
	}
	check := func(key string, want []byte) {
		t.Helper()
		v, ok, err := s.Get(key)
		if err != nil || !ok || !bytes.Equal(v, want) {
			t.Fatalf("get %s: %d bytes, ok %v, err %v; want %d bytes", key, len(v), ok, err, len(want))
		}
	}
	check("k", v1)
	s.Close()
	// The database holds the file's name, not the value.
	if info, err := os.Stat(filepath.Join(dir, FileName)); err != nil || info.Size() >= FileMin {
		t.Fatalf("database of %d bytes (%v): the large value is in it", info.Size(), err)
	}
	s = mustOpen(t, dir)
	check("k", v1)
	if err := s.Apply(map[string][]byte{"under": big(FileMin-1, 2)}, nil); err != nil {
		t.Fatal(err)
	}
	check("under", big(FileMin-1, 2))
	if f := valueFiles(t, dir); len(f) != 1 {
		t.Fatalf("value files %v; a value under FileMin got one", f)
	}

	v2 := big(3*FileMin+5, 3)
	if err := s.Apply(map[string][]byte{"k": v2}, nil); err != nil {
		t.Fatal(err)
	}
	check("k", v2)
	s.Close() // waits for the removal of v1's file
	if f := valueFiles(t, dir); len(f) != 1 || f[0] == files[0] {
		t.Fatalf("after replacing k: files %v (first was %v)", f, files)
	}
	s = mustOpen(t, dir)
	check("k", v2)
	if err := s.Apply(map[string][]byte{"k": []byte("now small")}, nil); err != nil {
		t.Fatal(err)
	}
	check("k", []byte("now small"))
	if err := s.Apply(map[string][]byte{"k2": v1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(nil, []string{"k2"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := get(t, s, "k2"); ok {
		t.Fatal("deleted large value still there")
	}
	s.Close()
	if f := valueFiles(t, dir); len(f) != 0 {
		t.Fatalf("files %v left after k became small and k2 was deleted", f)
	}
}

// TestStrayValueFilesRemovedAtOpen: files the database does not name (an
// Apply that crashed before its commit, or after a commit before removing
// the file it replaced) go at the next Open; named ones stay.
func TestStrayValueFilesRemovedAtOpen(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	v := big(FileMin, 4)
	if err := s.Apply(map[string][]byte{"k": v}, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	named := valueFiles(t, dir)
	if err := os.WriteFile(filepath.Join(dir, ValuesDir, "0123456789abcdef0123456789abcdef"), []byte("half a value"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir)
	defer s.Close()
	if f := valueFiles(t, dir); !slices.Equal(f, named) {
		t.Fatalf("files %v after open; want %v", f, named)
	}
	if got, _ := get(t, s, "k"); got != string(v) {
		t.Fatal("value changed")
	}
}

// TestScanMergesValueFiles: Scan sees keys in order whichever way their
// values are kept.
func TestScanMergesValueFiles(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	defer s.Close()
	want := map[string][]byte{
		"p/a": []byte("1"), "p/b": big(FileMin, 5), "p/c": big(FileMin+1, 6), "p/d": nil, "p/e": []byte("5"),
		"q/a": big(FileMin, 7), "o/z": []byte("out"),
	}
	if err := s.Apply(want, nil); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := s.Scan("p/", func(k string, v []byte) error {
		keys = append(keys, k)
		if !bytes.Equal(v, want[k]) || v == nil {
			return fmt.Errorf("%s: %d bytes, want %d", k, len(v), len(want[k]))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"p/a", "p/b", "p/c", "p/d", "p/e"}) {
		t.Fatalf("scan p/: %v", keys)
	}
}

// TestLargeValueReadersWhileReplaced: reads of a key whose large value is
// being replaced over and over each get one of the values written, whole:
// a file is not removed under a reader.
func TestLargeValueReadersWhileReplaced(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	vals := [][]byte{big(FileMin, 10), big(FileMin+3, 11), big(2*FileMin, 12)}
	if err := s.Apply(map[string][]byte{"k": vals[0]}, nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var v []byte
				var err error
				if r%2 == 0 {
					v, _, err = s.Get("k")
				} else {
					err = s.Scan("k", func(_ string, val []byte) error { v = val; return nil })
				}
				if err != nil {
					t.Error(err)
					return
				}
				if !slices.ContainsFunc(vals, func(w []byte) bool { return bytes.Equal(v, w) }) {
					t.Errorf("read %d bytes, none of the values written", len(v))
					return
				}
			}
		}()
	}
	for i := range 30 {
		if err := s.Apply(map[string][]byte{"k": vals[i%len(vals)]}, nil); err != nil {
			t.Error(err)
			break
		}
	}
	close(stop)
	wg.Wait()
	s.Close()
	if f := valueFiles(t, dir); len(f) != 1 {
		t.Fatalf("files %v after the replacements; want the last value's", f)
	}
}

// TestClosedStoreWritesNoFile: an Apply of a large value on a closed
// store fails without leaving a file.
func TestClosedStoreWritesNoFile(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	s.Close()
	if err := s.Apply(map[string][]byte{"k": big(FileMin, 1)}, nil); err == nil {
		t.Fatal("Apply on a closed store succeeded")
	}
	if f := valueFiles(t, dir); len(f) != 0 {
		t.Fatalf("files %v", f)
	}
}
