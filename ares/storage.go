package ares

import (
	"sort"
	"strings"
	"sync"
)

// Storage is a server's durable key-value store. Apply must not return
// before the batch is on disk: a server acknowledges only durable state.
type Storage interface {
	// Get returns the value of key; ok is false when it is absent.
	Get(key string) (val []byte, ok bool, err error)
	// Apply atomically and durably stores puts and removes dels.
	Apply(puts map[string][]byte, dels []string) error
	// Scan calls fn for every key with the prefix, in key order.
	Scan(prefix string, fn func(key string, val []byte) error) error
	Close() error
}

// Unsynced is a Storage that can take a batch without syncing it, as a
// write(2) without fsync: the data survives a process crash (the page
// cache keeps it) but not a power loss. Only BugNoSync uses it.
type Unsynced interface {
	ApplyUnsynced(puts map[string][]byte, dels []string) error
}

// MemStorage is a Storage in memory, for tests. It survives a Server being
// rebuilt on it, which models a crash and restart with a durable disk.
type MemStorage struct {
	mu sync.Mutex
	m  map[string][]byte
}

// NewMemStorage returns an empty MemStorage.
func NewMemStorage() *MemStorage { return &MemStorage{m: map[string][]byte{}} }

// Get implements Storage.
func (s *MemStorage) Get(key string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return append([]byte(nil), v...), ok, nil
}

// Apply implements Storage.
func (s *MemStorage) Apply(puts map[string][]byte, dels []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range dels {
		delete(s.m, k)
	}
	for k, v := range puts {
		s.m[k] = append([]byte(nil), v...)
	}
	return nil
}

// Scan implements Storage.
func (s *MemStorage) Scan(prefix string, fn func(string, []byte) error) error {
	s.mu.Lock()
	var keys []string
	for k := range s.m {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = append([]byte(nil), s.m[k]...)
	}
	s.mu.Unlock()
	for i, k := range keys {
		if err := fn(k, vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// Close implements Storage.
func (s *MemStorage) Close() error { return nil }
