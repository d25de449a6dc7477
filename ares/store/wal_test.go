package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// crash abandons s as a killed process would: what was acknowledged is
// in the log or the database, nothing is checkpointed at the end.
func crash(t *testing.T, s *Store) {
	t.Helper()
	s.mu.Lock()
	s.closed = true
	close(s.wake)
	s.mu.Unlock()
	<-s.stopped
	s.removing.Wait()
	if err := s.wal.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
}

func walSize(t *testing.T, dir string) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dir, WALName))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func apply(t *testing.T, s *Store, puts map[string][]byte, dels ...string) {
	t.Helper()
	if err := s.Apply(puts, dels); err != nil {
		t.Fatal(err)
	}
}

// TestLogReplayedAfterCrash: acknowledged groups live in the log only
// (no checkpoint yet) and come back after a crash, deletes included.
func TestLogReplayedAfterCrash(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	apply(t, s, map[string][]byte{"a": []byte("1"), "b": []byte("2"), "c": []byte("3")})
	apply(t, s, map[string][]byte{"a": []byte("4")}, "b")
	apply(t, s, map[string][]byte{"empty": {}})
	if walSize(t, dir) == 0 {
		t.Fatal("nothing in the log: the groups did not go through it")
	}
	crash(t, s)
	s = mustOpen(t, dir)
	defer s.Close()
	for k, want := range map[string]string{"a": "4", "c": "3", "empty": ""} {
		if v, ok := get(t, s, k); !ok || v != want {
			t.Errorf("%s = %q, %v after the crash; want %q", k, v, ok, want)
		}
	}
	if _, ok := get(t, s, "b"); ok {
		t.Error("b is back after the crash; it was deleted")
	}
	if n := walSize(t, dir); n != 0 {
		t.Errorf("log of %d bytes after Open; want it emptied into the database", n)
	}
}

// TestTornRecordDropped: a record cut short or corrupted by a crash
// during its append (never acknowledged) is dropped; those before it stay.
func TestTornRecordDropped(t *testing.T) {
	for _, tc := range []struct {
		name string
		harm func(b []byte) []byte
	}{
		{"cut", func(b []byte) []byte { return b[:len(b)-3] }},
		{"flipped", func(b []byte) []byte { b[len(b)-2] ^= 0xff; return b }},
		{"garbage", func(b []byte) []byte { return append(b, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir)
			apply(t, s, map[string][]byte{"a": []byte("kept")})
			before := walSize(t, dir)
			apply(t, s, map[string][]byte{"b": []byte("torn")})
			crash(t, s)
			path := filepath.Join(dir, WALName)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name != "garbage" {
				// Harm the second record only.
				b = append(b[:before:before], tc.harm(bytes.Clone(b[before:]))...)
			} else {
				b = tc.harm(b)
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			s = mustOpen(t, dir)
			defer s.Close()
			if v, ok := get(t, s, "a"); !ok || v != "kept" {
				t.Errorf("a = %q, %v; want the record before the torn one", v, ok)
			}
			_, ok := get(t, s, "b")
			if want := tc.name == "garbage"; ok != want {
				t.Errorf("b present = %v; want %v", ok, want)
			}
		})
	}
}

// TestCheckpointEmptiesLog: past walCheckpoint bytes the log's groups go
// into the database and the log starts over; nothing is lost on the way
// or across a crash.
func TestCheckpointEmptiesLog(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	val := bytes.Repeat([]byte("x"), 64<<10)
	var max int64
	n := 300 // two checkpoints (at 128 and 256 puts), then a log of 44 puts
	for i := 0; i < n; i++ {
		apply(t, s, map[string][]byte{fmt.Sprint(i % 50): append([]byte(fmt.Sprint(i)), val...)})
		if w := walSize(t, dir); w > max {
			max = w
		}
	}
	if max > walCheckpoint+int64(len(val))+4096 {
		t.Fatalf("log grew to %d bytes; want a checkpoint at %d", max, walCheckpoint)
	}
	if w := walSize(t, dir); w >= walCheckpoint {
		t.Fatalf("log of %d bytes after %d puts of %d bytes: no checkpoint", w, n, len(val))
	}
	check := func(s *Store) {
		for i := n - 50; i < n; i++ {
			v, ok := get(t, s, fmt.Sprint(i%50))
			if !ok || v != fmt.Sprint(i)+string(val) {
				t.Fatalf("key %d: lost its last put", i%50)
			}
		}
	}
	check(s)
	crash(t, s)
	s = mustOpen(t, dir)
	defer s.Close()
	check(s)
}

// TestLargeGroupAfterLoggedOnes: a group with more than walDirect bytes
// goes straight to the database, after the logged groups before it: a
// later replay must not bring back an older value of the same key.
func TestLargeGroupAfterLoggedOnes(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	apply(t, s, map[string][]byte{"k": []byte("old"), "j": []byte("kept")})
	big := bytes.Repeat([]byte("n"), walDirect/2+1)
	apply(t, s, map[string][]byte{"k": big, "k2": big}) // inline: below FileMin each, over walDirect together
	crash(t, s)
	s = mustOpen(t, dir)
	defer s.Close()
	if v, _ := get(t, s, "k"); v != string(big) {
		t.Fatalf("k = %d bytes after the crash; want the large group's value", len(v))
	}
	if v, _ := get(t, s, "j"); v != "kept" {
		t.Fatalf("j = %q; want the logged group's value", v)
	}
}

// TestLoggedFilesSurviveCrash: a value in a file, named by a logged
// group only, is there after a crash; the file it replaced is gone.
func TestLoggedFilesSurviveCrash(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	v1, v2 := big(FileMin, 1), big(FileMin, 2)
	apply(t, s, map[string][]byte{"f": v1})
	apply(t, s, map[string][]byte{"f": v2})
	crash(t, s)
	s = mustOpen(t, dir)
	defer s.Close()
	got, ok, err := s.Get("f")
	if err != nil || !ok || !bytes.Equal(got, v2) {
		t.Fatalf("f after the crash: %d bytes, %v, %v; want the second value", len(got), ok, err)
	}
	if files := valueFiles(t, dir); len(files) != 1 {
		t.Fatalf("value files %v; want only the second value's", files)
	}
}

// TestFailedSyncKeepsValueFiles: when the log's sync fails, the record
// may be on disk all the same (the kernel kept the pages); the value
// files it names stay, the store takes no more writes, and the next Open
// replays the record with its file there to read.
func TestFailedSyncKeepsValueFiles(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	syncLog = func(*os.File) error { return syscall.EIO }
	defer func() { syncLog = fdatasync }()
	v := big(FileMin, 7)
	if err := s.Apply(map[string][]byte{"f": v}, nil); err == nil {
		t.Fatal("Apply succeeded with a failing sync")
	}
	if files := valueFiles(t, dir); len(files) != 1 {
		t.Fatalf("value files %v after the failed sync; want the new value's kept", files)
	}
	syncLog = fdatasync
	if err := s.Apply(map[string][]byte{"g": []byte("x")}, nil); err == nil {
		t.Fatal("a store whose log failed to sync took another write")
	}
	if err := s.Close(); err == nil {
		t.Fatal("Close of a broken store reported success")
	}
	s = mustOpen(t, dir)
	defer s.Close()
	got, ok, err := s.Get("f")
	if err != nil || !ok || !bytes.Equal(got, v) {
		t.Fatalf("f after reopening: %d bytes, %v, %v; want the replayed value", len(got), ok, err)
	}
}
