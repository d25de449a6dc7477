// Package store is the durable ares.Storage of an ARES server: one bbolt
// database file in the server's data directory. Apply returns only once its
// batch is committed and fsynced, and concurrent Apply calls share one
// commit, and so one fsync (group commit).
//
// The grouping is done here rather than with bbolt's DB.Batch: Batch waits
// MaxBatchDelay on a timer before every commit, and Go timers fire about
// 1 ms late on the machines this runs on, several times the cost of the
// commit itself (two fsyncs, ~0.3 ms). Here one goroutine commits whatever
// has queued while the previous commit ran, so a lone Apply waits for no
// timer and Applies that arrive during a commit share the next one.
package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ares-torture/torture/ares"
	bolt "go.etcd.io/bbolt"
)

// FileName is the name of the database file inside the data directory.
const FileName = "ares.db"

var bucket = []byte("ares")

// ErrClosed is returned by calls on a closed Store.
var ErrClosed = errors.New("store: closed")

// Options tune a Store. The zero value gives the defaults.
type Options struct {
	// LockTimeout bounds the wait for the file lock held by another process
	// on the same directory. Zero means DefaultLockTimeout.
	LockTimeout time.Duration
	// MaxBatch bounds how many Apply calls share one commit. Zero means
	// DefaultMaxBatch.
	MaxBatch int
}

// Defaults for Options.
const (
	DefaultLockTimeout = 10 * time.Second
	DefaultMaxBatch    = 1000
)

// Store is a bbolt-backed ares.Storage. Its methods are safe for concurrent
// use.
type Store struct {
	db       *bolt.DB
	path     string
	maxBatch int

	mu      sync.Mutex
	queue   []*call
	closed  bool
	wake    chan struct{} // capacity 1: the committer has work
	stopped chan struct{} // closed when the committer has exited
}

// call is one Apply waiting for its commit.
type call struct {
	puts map[string][]byte
	dels []string
	done chan error
}

var _ ares.Storage = (*Store)(nil)

// Open opens (creating if needed) the store in directory dir with default
// options.
func Open(dir string) (*Store, error) { return OpenOptions(dir, Options{}) }

// OpenOptions opens (creating if needed) the store in directory dir.
func OpenOptions(dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("store: empty data directory")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: create data directory: %w", err)
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: opts.LockTimeout,
		// The freelist is rebuilt on open instead of written on every
		// commit: cheaper commits, and nothing durable depends on it.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: init %s: %w", path, err)
	}
	s := &Store{
		db:       db,
		path:     path,
		maxBatch: opts.MaxBatch,
		wake:     make(chan struct{}, 1),
		stopped:  make(chan struct{}),
	}
	go s.committer()
	return s, nil
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Get implements ares.Storage. The returned slice is the caller's.
func (s *Store) Get(key string) ([]byte, bool, error) {
	var val []byte
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucket).Get([]byte(key))
		if v != nil {
			ok = true
			// bbolt's memory is valid only inside the transaction.
			val = bytes.Clone(v)
			if val == nil {
				val = []byte{}
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: get %q: %w", key, err)
	}
	return val, ok, nil
}

// Apply implements ares.Storage: dels are removed and puts stored in one
// transaction, fsynced before Apply returns. A key both deleted and put ends
// up put. Concurrent calls are committed together. The store does not keep
// the caller's slices after Apply returns.
func (s *Store) Apply(puts map[string][]byte, dels []string) error {
	if len(puts) == 0 && len(dels) == 0 {
		return nil
	}
	for k := range puts {
		if err := checkKey(k); err != nil {
			return fmt.Errorf("store: apply: %w", err)
		}
	}
	c := &call{puts: puts, dels: dels, done: make(chan error, 1)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.queue = append(s.queue, c)
	// Signalled under mu so that Close cannot close wake in between.
	select {
	case s.wake <- struct{}{}:
	default: // the committer is already signalled
	}
	s.mu.Unlock()
	return <-c.done
}

func checkKey(k string) error {
	if k == "" {
		return errors.New("empty key")
	}
	if len(k) > bolt.MaxKeySize {
		return fmt.Errorf("key of %d bytes is over the limit of %d", len(k), bolt.MaxKeySize)
	}
	return nil
}

// committer commits queued calls until the store closes, taking everything
// that queued during the previous commit as the next group.
func (s *Store) committer() {
	defer close(s.stopped)
	for {
		_, open := <-s.wake
		for {
			s.mu.Lock()
			n := min(len(s.queue), s.maxBatch)
			group := s.queue[:n:n]
			s.queue = s.queue[n:]
			s.mu.Unlock()
			if n == 0 {
				break
			}
			s.commit(group)
		}
		if !open {
			return
		}
	}
}

// commit applies a group in one transaction. If it fails, each call is
// retried alone so that one bad call fails only itself.
func (s *Store) commit(group []*call) {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		for _, c := range group {
			if err := apply(b, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || len(group) == 1 {
		if err != nil {
			err = fmt.Errorf("store: apply: %w", err)
		}
		for _, c := range group {
			c.done <- err
		}
		return
	}
	for _, c := range group {
		s.commit([]*call{c})
	}
}

func apply(b *bolt.Bucket, c *call) error {
	for _, k := range c.dels {
		if k == "" {
			continue
		}
		if err := b.Delete([]byte(k)); err != nil {
			return fmt.Errorf("delete %q: %w", k, err)
		}
	}
	for k, v := range c.puts {
		if v == nil {
			v = []byte{}
		}
		if err := b.Put([]byte(k), v); err != nil {
			return fmt.Errorf("put %q: %w", k, err)
		}
	}
	return nil
}

// Scan implements ares.Storage: fn sees every key with the prefix in key
// order, inside one read transaction (a consistent snapshot). The slices fn
// gets are copies it may keep.
func (s *Store) Scan(prefix string, fn func(key string, val []byte) error) error {
	p := []byte(prefix)
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			val := bytes.Clone(v)
			if val == nil {
				val = []byte{}
			}
			if err := fn(string(k), val); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: scan %q: %w", prefix, err)
	}
	return nil
}

// Close implements ares.Storage. Apply calls already queued are committed
// first; later ones fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	close(s.wake)
	s.mu.Unlock()
	<-s.stopped
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}
