// Package store is the durable ares.Storage of an ARES server: a
// write-ahead log (wal.go) in front of a bbolt database, in the server's
// data directory. Apply returns only once its batch is synced, and
// concurrent Apply calls share one sync (group commit): a group is one
// record appended to the log and one fdatasync; the database takes the
// log's groups in one transaction now and then (a checkpoint).
//
// The grouping is done here rather than with bbolt's DB.Batch: Batch waits
// MaxBatchDelay on a timer before every commit, and Go timers fire about
// 1 ms late on the machines this runs on, several times the cost of the
// commit itself. Here one goroutine commits whatever has queued while the
// previous commit ran, so a lone Apply waits for no timer and Applies that
// arrive during a commit share the next one.
//
// Values of FileMin bytes or more are not kept in the database but in
// files of their own, in the directory values/ beside it; the database
// maps their keys to the files' names (bucket "files"). A large value in
// a bbolt leaf costs a copy into a page buffer at every commit that
// rewrites the leaf (any later put of a key beside it), and reading it
// maps its pages into the process: a 192 MiB put took a server from 200 MB
// to 800 MB resident, a read of it to 1 GB. A file costs one write(2) from
// the caller's buffer and one read(2) into the reader's. See Apply for
// how the files stay consistent with the database across crashes.
package store

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
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

// ValuesDir is the directory, inside the data directory, of the files
// that hold large values.
const ValuesDir = "values"

// FileMin is the size from which a value is kept in a file of its own.
// Below it bbolt does better (no fsync of a file and its directory).
const FileMin = 1 << 20

var (
	bucket      = []byte("ares")
	filesBucket = []byte("files") // key -> name of the file in ValuesDir
)

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
	vdir     string
	maxBatch int

	// The log (wal.go). The committer alone writes them, and reads
	// broken: set when a failure leaves the log unusable, it fails
	// every later Apply.
	wal     *os.File
	walPath string
	walSize int64
	broken  error
	ov      overlay

	// Readers of value files hold the gate; files replaced by a commit
	// are removed once no reader is in (remove).
	gate     sync.Mutex
	readers  int
	idle     *sync.Cond // readers dropped to 0
	removing sync.WaitGroup

	mu      sync.Mutex
	queue   []*call
	closed  bool
	wake    chan struct{} // capacity 1: the committer has work
	stopped chan struct{} // closed when the committer has exited
}

// call is one Apply waiting for its commit.
type call struct {
	puts  map[string][]byte
	files map[string]string // key -> file already written for its value
	dels  []string
	done  chan error
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
		if _, err := tx.CreateBucketIfNotExists(bucket); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(filesBucket)
		return err
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: init %s: %w", path, err)
	}
	s := &Store{
		db:       db,
		path:     path,
		vdir:     filepath.Join(dir, ValuesDir),
		maxBatch: opts.MaxBatch,
		walPath:  filepath.Join(dir, WALName),
		ov:       overlay{m: map[string]entry{}},
		wake:     make(chan struct{}, 1),
		stopped:  make(chan struct{}),
	}
	s.idle = sync.NewCond(&s.gate)
	if s.wal, err = os.OpenFile(s.walPath, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open %s: %w", s.walPath, err)
	}
	// The log's records go into the database before the sweep reads
	// which value files it names.
	if err := s.replay(); err != nil {
		_ = s.wal.Close()
		_ = db.Close()
		return nil, err
	}
	if err := s.sweep(); err != nil {
		_ = s.wal.Close()
		_ = db.Close()
		return nil, err
	}
	go s.committer()
	return s, nil
}

// sweep creates the values directory and removes the files in it that the
// database does not name: written by an Apply that did not commit, or
// replaced by one that committed, before a crash.
func (s *Store) sweep() error {
	if err := os.MkdirAll(s.vdir, 0o755); err != nil {
		return fmt.Errorf("store: create %s: %w", s.vdir, err)
	}
	named := map[string]bool{}
	if err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(filesBucket).ForEach(func(_, name []byte) error {
			named[string(name)] = true
			return nil
		})
	}); err != nil {
		return fmt.Errorf("store: list value files: %w", err)
	}
	ents, err := os.ReadDir(s.vdir)
	if err != nil {
		return fmt.Errorf("store: list value files: %w", err)
	}
	for _, e := range ents {
		if !named[e.Name()] {
			if err := os.Remove(filepath.Join(s.vdir, e.Name())); err != nil {
				return fmt.Errorf("store: remove stray value file: %w", err)
			}
		}
	}
	return nil
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Get implements ares.Storage. The returned slice is the caller's.
func (s *Store) Get(key string) ([]byte, bool, error) {
	s.enter()
	defer s.leave()
	var val []byte
	var ok bool
	var file string
	var err error
	if e, in := s.ov.get(key); in {
		switch {
		case e.del:
		case e.file != "":
			ok, file = true, e.file
		default:
			ok, val = true, bytes.Clone(e.val)
		}
	} else {
		err = s.db.View(func(tx *bolt.Tx) error {
			v := tx.Bucket(bucket).Get([]byte(key))
			if v != nil {
				ok = true
				// bbolt's memory is valid only inside the transaction.
				val = bytes.Clone(v)
				if val == nil {
					val = []byte{}
				}
			} else if f := tx.Bucket(filesBucket).Get([]byte(key)); f != nil {
				ok, file = true, string(f)
			}
			return nil
		})
	}
	if err == nil && file != "" {
		val, err = s.readFile(file)
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: get %q: %w", key, err)
	}
	return val, ok, nil
}

// enter and leave bracket a read that may open value files: no file is
// removed while a reader is in, so a file named in a reader's snapshot of
// the database is there to read.
func (s *Store) enter() {
	s.gate.Lock()
	s.readers++
	s.gate.Unlock()
}

func (s *Store) leave() {
	s.gate.Lock()
	if s.readers--; s.readers == 0 {
		s.idle.Broadcast()
	}
	s.gate.Unlock()
}

// readFile reads a value file into a buffer of its size.
func (s *Store) readFile(name string) ([]byte, error) {
	v, err := os.ReadFile(filepath.Join(s.vdir, name))
	if err != nil {
		return nil, fmt.Errorf("value file: %w", err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// writeFile writes a value into a new file and syncs it; its directory
// entry is synced with the commit that names it (syncDir).
func (s *Store) writeFile(v []byte) (string, error) {
	var id [16]byte
	_, _ = rand.Read(id[:])
	name := hex.EncodeToString(id[:])
	path := filepath.Join(s.vdir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("value file: %w", err)
	}
	_, err = f.Write(v)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("value file: %w", err)
	}
	return name, nil
}

func (s *Store) syncDir() error {
	d, err := os.Open(s.vdir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeFiles removes value files, best effort: a file left behind is
// removed by the next Open.
func (s *Store) removeFiles(names []string) {
	for _, n := range names {
		_ = os.Remove(filepath.Join(s.vdir, n))
	}
}

// remove removes the value files a commit replaced, once no reader is in.
func (s *Store) remove(names []string) {
	defer s.removing.Done()
	s.gate.Lock()
	for s.readers > 0 {
		s.idle.Wait()
	}
	s.removeFiles(names)
	s.gate.Unlock()
}

// Apply implements ares.Storage: dels are removed and puts stored in one
// transaction, fsynced before Apply returns. A key both deleted and put ends
// up put. Concurrent calls are committed together. The store does not keep
// the caller's slices after Apply returns.
//
// A value of FileMin bytes or more is first written to a new file and
// synced, by the caller's goroutine; the commit then syncs the directory
// and names the file in the database. The file a commit replaces or
// deletes is removed after it. A crash leaves at worst a file that the
// database does not name (not yet or no longer), which Open removes.
func (s *Store) Apply(puts map[string][]byte, dels []string) error {
	if len(puts) == 0 && len(dels) == 0 {
		return nil
	}
	for k := range puts {
		if err := checkKey(k); err != nil {
			return fmt.Errorf("store: apply: %w", err)
		}
	}
	if s.isClosed() {
		return ErrClosed // before writing files for nothing
	}
	c := &call{puts: puts, dels: dels, done: make(chan error, 1)}
	for k, v := range puts {
		if len(v) < FileMin {
			continue
		}
		name, err := s.writeFile(v)
		if err != nil {
			s.removeFiles(c.names())
			return fmt.Errorf("store: apply %q: %w", k, err)
		}
		if c.files == nil {
			c.files = map[string]string{}
		}
		c.files[k] = name
	}
	if err := s.enqueue(c); err != nil {
		// Not committed: nothing names these files, unless a failed
		// sync left the record in the log (Open sweeps them if not).
		if !errors.Is(err, errFateUnknown) {
			s.removeFiles(c.names())
		}
		return err
	}
	return nil
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (c *call) names() []string {
	var out []string
	for _, n := range c.files {
		out = append(out, n)
	}
	return out
}

// enqueue hands c to the committer and waits for its commit.
func (s *Store) enqueue(c *call) error {
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

// commit applies a group: through the log, or straight into the
// database when it carries many bytes of values (wal.go). If it fails,
// each call is retried alone so that one bad call fails only itself.
func (s *Store) commit(group []*call) {
	err := s.broken
	if err == nil {
		for _, c := range group {
			if len(c.files) > 0 {
				// The new files' names must be on disk before a
				// record names them.
				if err = s.syncDir(); err != nil {
					err = fmt.Errorf("sync %s: %w", s.vdir, err)
				}
				break
			}
		}
	}
	var replaced []string
	if err == nil {
		o := ops(group)
		if inlineBytes(o) > walDirect {
			if err = s.checkpoint(); err == nil {
				s.note(o, &replaced)
				err = s.db.Update(func(tx *bolt.Tx) error { return put(tx, o) })
			}
		} else {
			err = s.logGroup(o, &replaced)
		}
	}
	if err == nil || len(group) == 1 || s.broken != nil {
		if err != nil {
			err = fmt.Errorf("store: apply: %w", err)
		}
		for _, c := range group {
			c.done <- err
		}
		if err == nil && len(replaced) > 0 {
			s.removing.Add(1)
			go s.remove(replaced)
		}
		if err == nil && s.walSize >= walCheckpoint {
			// A failure leaves the groups in the log and the overlay,
			// to be put in the database by the next checkpoint or Open.
			_ = s.checkpoint()
		}
		return
	}
	for _, c := range group {
		s.commit([]*call{c})
	}
}

// Scan implements ares.Storage: fn sees every key with the prefix in key
// order, inside one read transaction (a consistent snapshot). The slices fn
// gets are copies it may keep.
func (s *Store) Scan(prefix string, fn func(key string, val []byte) error) error {
	s.enter()
	defer s.leave()
	// The overlay's keys with the prefix take the place of the
	// database's (wal.go). The overlay is read and the database's read
	// transaction begun under the overlay's read lock, so that no group
	// lands in between: a checkpoint may still put the overlay into the
	// database meanwhile, which changes nothing the merge shows. Both
	// after entering, so that every file they name is kept until the
	// scan leaves.
	s.ov.mu.RLock()
	ov := s.ov.prefixedLocked(prefix)
	tx, err := s.db.Begin(false)
	s.ov.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("store: scan %q: %w", prefix, err)
	}
	defer func() { _ = tx.Rollback() }()
	p := []byte(prefix)
	err = func() error {
		// The two buckets and the overlay merged in key order (a key is
		// in one bucket; the overlay's entry wins over it).
		c, fc := tx.Bucket(bucket).Cursor(), tx.Bucket(filesBucket).Cursor()
		k, v := c.Seek(p)
		fk, fv := fc.Seek(p)
		for {
			in, fin := k != nil && bytes.HasPrefix(k, p), fk != nil && bytes.HasPrefix(fk, p)
			var key string
			var val []byte
			var file string
			switch {
			case len(ov) > 0 && (!in || ov[0].key <= string(k)) && (!fin || ov[0].key <= string(fk)):
				o := ov[0]
				ov = ov[1:]
				if in && string(k) == o.key {
					k, v = c.Next()
				}
				if fin && string(fk) == o.key {
					fk, fv = fc.Next()
				}
				if o.e.del {
					continue
				}
				key, val, file = o.key, o.e.val, o.e.file
				if file == "" {
					val = bytes.Clone(val)
				}
			case in && (!fin || bytes.Compare(k, fk) < 0):
				key, val = string(k), bytes.Clone(v)
				k, v = c.Next()
			case fin:
				key, file = string(fk), string(fv)
				fk, fv = fc.Next()
			default:
				return nil
			}
			if file != "" {
				var err error
				if val, err = s.readFile(file); err != nil {
					return fmt.Errorf("%q: %w", key, err)
				}
			}
			if val == nil {
				val = []byte{}
			}
			if err := fn(key, val); err != nil {
				return err
			}
		}
	}()
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
	s.removing.Wait()
	// The log's groups go into the database now rather than at the
	// next Open; if that fails they stay in the log for it.
	err := s.broken
	if err == nil {
		err = s.checkpoint()
	}
	if cerr := s.wal.Close(); err == nil {
		err = cerr
	}
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}
