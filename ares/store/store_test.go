package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func mustOpen(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func get(t testing.TB, s *Store, key string) (string, bool) {
	t.Helper()
	v, ok, err := s.Get(key)
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	return string(v), ok
}

func TestOpenCreatesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b", "data")
	s := mustOpen(t, dir)
	defer s.Close()
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Fatalf("database file missing: %v", err)
	}
}

// TestSecondOpenFails: two stores (two servers) on one directory would
// corrupt each other; the second waits for the file lock, then fails.
func TestSecondOpenFails(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	defer s.Close()
	if s2, err := OpenOptions(dir, Options{LockTimeout: 100 * time.Millisecond}); err == nil {
		s2.Close()
		t.Fatal("a second store opened a directory in use")
	}
}

func TestOpenEmptyDir(t *testing.T) {
	if _, err := Open(""); err == nil {
		t.Fatal("Open(\"\") succeeded")
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	if err := s.Apply(map[string][]byte{"a": []byte("1"), "b": []byte("2"), "empty": {}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(map[string][]byte{"c": []byte("3")}, []string{"b"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir)
	defer s.Close()
	for key, want := range map[string]string{"a": "1", "c": "3", "empty": ""} {
		if got, ok := get(t, s, key); !ok || got != want {
			t.Errorf("after reopen %q = %q,%v; want %q", key, got, ok, want)
		}
	}
	if _, ok := get(t, s, "b"); ok {
		t.Error("deleted key b came back after reopen")
	}
	if _, ok := get(t, s, "missing"); ok {
		t.Error("missing key found")
	}
}

func TestApplyPutWinsOverDelete(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	defer s.Close()
	if err := s.Apply(map[string][]byte{"k": []byte("old")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(map[string][]byte{"k": []byte("new")}, []string{"k"}); err != nil {
		t.Fatal(err)
	}
	if got, ok := get(t, s, "k"); !ok || got != "new" {
		t.Fatalf("k = %q,%v; want new", got, ok)
	}
}

func TestApplyRejectsEmptyKey(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	defer s.Close()
	if err := s.Apply(map[string][]byte{"a": []byte("1"), "": []byte("x")}, nil); err == nil {
		t.Fatal("Apply with an empty key succeeded")
	}
	// Nothing of the rejected batch is stored.
	if _, ok := get(t, s, "a"); ok {
		t.Fatal("part of a rejected batch was stored")
	}
}

// TestApplyAtomic checks that a reader never sees half of a batch: every
// batch writes the same generation to all keys of a group.
func TestApplyAtomic(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	defer s.Close()
	keys := []string{"g/1", "g/2", "g/3", "g/4"}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for gen := 0; ; gen++ {
			select {
			case <-stop:
				return
			default:
			}
			puts := map[string][]byte{}
			for _, k := range keys {
				puts[k] = []byte(fmt.Sprint(gen))
			}
			if err := s.Apply(puts, nil); err != nil {
				t.Errorf("apply: %v", err)
				return
			}
		}
	}()
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		seen := map[string]bool{}
		if err := s.Scan("g/", func(k string, v []byte) error {
			seen[string(v)] = true
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(seen) > 1 {
			t.Fatalf("scan saw several generations at once: %v", seen)
		}
	}
	close(stop)
	wg.Wait()
}

func TestScanPrefixOrder(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	defer s.Close()
	puts := map[string][]byte{}
	for _, k := range []string{"c/2/b", "c/1/z", "c/2/a", "c/10/a", "d/1", "c", "b/9", "c/2/"} {
		puts[k] = []byte("v:" + k)
	}
	if err := s.Apply(puts, nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := s.Scan("c/", func(k string, v []byte) error {
		if string(v) != "v:"+k {
			t.Errorf("value of %q = %q", k, v)
		}
		got = append(got, k)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"c/1/z", "c/10/a", "c/2/", "c/2/a", "c/2/b"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("scan c/ = %v; want %v", got, want)
	}
	var all int
	if err := s.Scan("", func(string, []byte) error { all++; return nil }); err != nil {
		t.Fatal(err)
	}
	if all != len(puts) {
		t.Fatalf("scan all saw %d keys; want %d", all, len(puts))
	}
}

func TestScanStopsOnError(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	defer s.Close()
	if err := s.Apply(map[string][]byte{"a": nil, "b": nil, "c": nil}, nil); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	n := 0
	err := s.Scan("", func(string, []byte) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("scan = %v after %d calls; want stop after 1", err, n)
	}
}

func TestGetReturnsCopy(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	defer s.Close()
	val := []byte("abc")
	if err := s.Apply(map[string][]byte{"k": val}, nil); err != nil {
		t.Fatal(err)
	}
	val[0] = 'X' // the store must not alias the caller's slice
	v, _, _ := s.Get("k")
	v[1] = 'Y'
	if got, _ := get(t, s, "k"); got != "abc" {
		t.Fatalf("k = %q; want abc", got)
	}
}

func TestConcurrentApply(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	const writers, per = 16, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				k := fmt.Sprintf("w%02d/%03d", w, i)
				if err := s.Apply(map[string][]byte{k: []byte(k)}, nil); err != nil {
					t.Errorf("apply %s: %v", k, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir)
	defer s.Close()
	n := 0
	if err := s.Scan("w", func(k string, v []byte) error {
		if k != string(v) {
			t.Errorf("%q = %q", k, v)
		}
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != writers*per {
		t.Fatalf("found %d keys after reopen; want %d", n, writers*per)
	}
}

// TestCloseWhileApplying checks that Close neither loses nor hangs Apply
// calls that race with it: each either commits or fails with ErrClosed.
func TestCloseWhileApplying(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	var wg sync.WaitGroup
	var committed sync.Map
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				k := fmt.Sprintf("%d/%d", w, i)
				err := s.Apply(map[string][]byte{k: []byte("x")}, nil)
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("apply: %v", err)
					return
				}
				committed.Store(k, true)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s = mustOpen(t, dir)
	defer s.Close()
	committed.Range(func(k, _ any) bool {
		if _, ok := get(t, s, k.(string)); !ok {
			t.Errorf("committed key %v lost", k)
		}
		return true
	})
}

func TestLargeValue(t *testing.T) {
	if testing.Short() {
		t.Skip("large value")
	}
	dir := t.TempDir()
	s := mustOpen(t, dir)
	big := make([]byte, 64<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	if err := s.Apply(map[string][]byte{"big": big}, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = mustOpen(t, dir)
	defer s.Close()
	v, ok, err := s.Get("big")
	if err != nil || !ok || len(v) != len(big) || v[12345] != big[12345] || v[len(v)-1] != big[len(big)-1] {
		t.Fatalf("big value after reopen: len %d ok %v err %v", len(v), ok, err)
	}
}

func TestClosedStoreErrors(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	s.Close()
	if err := s.Close(); err == nil {
		t.Error("second Close succeeded")
	}
	if err := s.Apply(map[string][]byte{"a": nil}, nil); !errors.Is(err, ErrClosed) {
		t.Error("Apply on a closed store succeeded")
	}
	if _, _, err := s.Get("a"); err == nil {
		t.Error("Get on a closed store succeeded")
	}
}

func BenchmarkApplyParallel(b *testing.B) {
	s := mustOpen(b, b.TempDir())
	defer s.Close()
	val := make([]byte, 1024)
	b.SetParallelism(8)
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := fmt.Sprint(next.Add(1) % 1000)
			if err := s.Apply(map[string][]byte{k: val}, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkApplySerial(b *testing.B) {
	s := mustOpen(b, b.TempDir())
	defer s.Close()
	val := make([]byte, 1024)
	for i := 0; b.Loop(); i++ {
		if err := s.Apply(map[string][]byte{fmt.Sprint(i % 1000): val}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
