package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// The write-ahead log. A bbolt commit writes its pages, fdatasyncs, writes
// its meta page and fdatasyncs again: two syncs and three writes per
// group. A log needs one write and one fdatasync, so a group is committed
// by appending it to the log and syncing; the database takes the log's
// groups in one transaction (a checkpoint) once the log holds
// walCheckpoint bytes, and the log starts over. Until then the groups
// are kept in memory as an overlay on the database, which Get reads
// first. Each sync also costs a Go server more than the disk's time: the
// runtime hands the thread's processor to another thread while it waits,
// and on a busy 2-core machine that was a third of a server's context
// switches (issue 14).
//
// A record is one group: length (4 bytes, little endian), CRC-32C of the
// payload (4 bytes), payload. Open replays the records into the database
// up to the first torn or corrupt one (a crash during an append; it was
// not acknowledged), then empties the log. Replaying a record the
// database already holds (a crash between a checkpoint and the log's
// truncation) changes nothing: records are absolute puts and deletes,
// replayed in order.
const (
	// WALName is the log's file name inside the data directory.
	WALName = "ares.wal"
	// walCheckpoint is the log size from which its groups go into the
	// database.
	walCheckpoint = 8 << 20
	// walDirect: a group with more bytes of values kept in the database
	// than this goes straight to the database (after a checkpoint, to
	// keep the order): logging it would write it twice.
	walDirect = 1 << 20
	walHeader = 8
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Operations of a record.
const (
	opDel  byte = 0
	opPut  byte = 1 // value in the database
	opFile byte = 2 // value in a file of ValuesDir; the record holds its name
)

// entry is the overlay's state of a key: deleted, a value, or the name
// of the file that holds its value.
type entry struct {
	del  bool
	val  []byte
	file string
}

// overlay is the state the log holds beyond the database.
type overlay struct {
	mu sync.RWMutex
	m  map[string]entry
}

func (o *overlay) get(key string) (entry, bool) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	e, ok := o.m[key]
	return e, ok
}

// keyed is an overlay entry with its key.
type keyed struct {
	key string
	e   entry
}

// prefixedLocked returns the overlay's entries whose keys have the
// prefix, in key order; o.mu is held.
func (o *overlay) prefixedLocked(prefix string) []keyed {
	var out []keyed
	for k, e := range o.m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, keyed{k, e})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// ops lists a group's changes in the order they take effect: each call's
// deletes, then its puts (a key both deleted and put ends up put).
func ops(group []*call) []walOp {
	var out []walOp
	for _, c := range group {
		for _, k := range c.dels {
			if k != "" {
				out = append(out, walOp{kind: opDel, key: k})
			}
		}
		for k, v := range c.puts {
			if f, ok := c.files[k]; ok {
				out = append(out, walOp{kind: opFile, key: k, val: []byte(f)})
			} else {
				out = append(out, walOp{kind: opPut, key: k, val: v})
			}
		}
	}
	return out
}

type walOp struct {
	kind byte
	key  string
	val  []byte // the value, or the file's name
}

// entry is the overlay's state of o's key once o took effect; a value is
// copied (the caller's slice is not kept).
func (o walOp) entry() entry {
	switch o.kind {
	case opDel:
		return entry{del: true}
	case opFile:
		return entry{file: string(o.val)}
	}
	v := bytes.Clone(o.val)
	if v == nil {
		v = []byte{}
	}
	return entry{val: v}
}

// op is the change that makes key's state e.
func (e entry) op(key string) walOp {
	switch {
	case e.del:
		return walOp{kind: opDel, key: key}
	case e.file != "":
		return walOp{kind: opFile, key: key, val: []byte(e.file)}
	}
	return walOp{kind: opPut, key: key, val: e.val}
}

// inlineBytes is how many bytes of values a group puts in the database.
func inlineBytes(ops []walOp) int {
	n := 0
	for _, o := range ops {
		if o.kind == opPut {
			n += len(o.val)
		}
	}
	return n
}

// encode makes one record of ops.
func encode(ops []walOp) []byte {
	size := walHeader + binary.MaxVarintLen64
	for _, o := range ops {
		size += 1 + 2*binary.MaxVarintLen64 + len(o.key) + len(o.val)
	}
	b := make([]byte, walHeader, size)
	b = binary.AppendUvarint(b, uint64(len(ops)))
	for _, o := range ops {
		b = append(b, o.kind)
		b = binary.AppendUvarint(b, uint64(len(o.key)))
		b = append(b, o.key...)
		if o.kind != opDel {
			b = binary.AppendUvarint(b, uint64(len(o.val)))
			b = append(b, o.val...)
		}
	}
	p := b[walHeader:]
	binary.LittleEndian.PutUint32(b[0:4], uint32(len(p)))
	binary.LittleEndian.PutUint32(b[4:8], crc32.Checksum(p, crcTable))
	return b
}

var errTorn = errors.New("torn record")

// errFateUnknown marks the failure of a group whose record may yet be in
// the log (a failed sync): the value files it names must stay, for the
// next Open replays the record if it is there and sweeps them if not.
var errFateUnknown = errors.New("the log may hold it: the next open decides")

// decode reads the records of a log, up to the first torn or corrupt one.
func decode(b []byte) (records [][]walOp) {
	for len(b) >= walHeader {
		n := binary.LittleEndian.Uint32(b[0:4])
		if uint64(n) > uint64(len(b)-walHeader) {
			return records
		}
		p := b[walHeader : walHeader+int(n)]
		if crc32.Checksum(p, crcTable) != binary.LittleEndian.Uint32(b[4:8]) {
			return records
		}
		ops, err := decodeOps(p)
		if err != nil {
			return records
		}
		records = append(records, ops)
		b = b[walHeader+int(n):]
	}
	return records
}

func decodeOps(p []byte) ([]walOp, error) {
	r := bytes.NewReader(p)
	field := func() ([]byte, error) {
		n, err := binary.ReadUvarint(r)
		if err != nil || n > uint64(r.Len()) {
			return nil, errTorn
		}
		v := make([]byte, n)
		_, _ = r.Read(v)
		return v, nil
	}
	count, err := binary.ReadUvarint(r)
	if err != nil || count > uint64(len(p)) {
		return nil, errTorn
	}
	out := make([]walOp, 0, count)
	for i := uint64(0); i < count; i++ {
		kind, err := r.ReadByte()
		if err != nil || kind > opFile {
			return nil, errTorn
		}
		k, err := field()
		if err != nil {
			return nil, err
		}
		o := walOp{kind: kind, key: string(k)}
		if kind != opDel {
			if o.val, err = field(); err != nil {
				return nil, err
			}
		}
		out = append(out, o)
	}
	if r.Len() != 0 {
		return nil, errTorn
	}
	return out, nil
}

// put applies ops to a database transaction.
func put(tx *bolt.Tx, ops []walOp) error {
	b, fb := tx.Bucket(bucket), tx.Bucket(filesBucket)
	for _, o := range ops {
		k := []byte(o.key)
		var err error
		switch o.kind {
		case opDel:
			if err = b.Delete(k); err == nil {
				err = fb.Delete(k)
			}
		case opPut:
			v := o.val
			if v == nil {
				v = []byte{}
			}
			if err = fb.Delete(k); err == nil {
				err = b.Put(k, v)
			}
		case opFile:
			if err = b.Delete(k); err == nil {
				err = fb.Put(k, o.val)
			}
		}
		if err != nil {
			return fmt.Errorf("%q: %w", o.key, err)
		}
	}
	return nil
}

// replay puts the log's records into the database and empties the log.
func (s *Store) replay() error {
	b, err := os.ReadFile(s.walPath)
	if err != nil {
		return fmt.Errorf("store: read %s: %w", s.walPath, err)
	}
	if len(b) == 0 {
		return nil
	}
	if recs := decode(b); len(recs) > 0 {
		if err := s.db.Update(func(tx *bolt.Tx) error {
			for _, ops := range recs {
				if err := put(tx, ops); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("store: replay %s: %w", s.walPath, err)
		}
	}
	return s.truncate()
}

// truncate empties the log, once the database holds what it held.
func (s *Store) truncate() error {
	if err := s.wal.Truncate(0); err != nil {
		return fmt.Errorf("store: truncate %s: %w", s.walPath, err)
	}
	if err := fdatasync(s.wal); err != nil {
		return fmt.Errorf("store: sync %s: %w", s.walPath, err)
	}
	s.walSize = 0
	return nil
}

// logGroup commits ops through the log: appends their record and syncs
// it, then makes them visible in the overlay. replaced gets the value
// files that no longer hold a value.
func (s *Store) logGroup(ops []walOp, replaced *[]string) error {
	s.note(ops, replaced)
	rec := encode(ops)
	if _, err := s.wal.Write(rec); err != nil {
		// Cut what may have been written: the next record must follow
		// a whole one.
		if terr := s.wal.Truncate(s.walSize); terr != nil {
			s.broken = fmt.Errorf("log %s unusable after a failed write: %w", s.walPath, terr)
			return fmt.Errorf("append to %s: %w: %w", s.walPath, err, errFateUnknown)
		}
		return fmt.Errorf("append to %s: %w", s.walPath, err)
	}
	if err := syncLog(s.wal); err != nil {
		// After a failed sync what is on disk is unknown (the kernel may
		// have dropped the pages, or kept them and written them later):
		// no later write may be acknowledged, and the record may be
		// replayed at the next Open.
		s.broken = fmt.Errorf("sync %s failed: %w", s.walPath, err)
		return fmt.Errorf("%w: %w", s.broken, errFateUnknown)
	}
	s.walSize += int64(len(rec))
	s.ov.mu.Lock()
	for _, o := range ops {
		s.ov.m[o.key] = o.entry()
	}
	s.ov.mu.Unlock()
	return nil
}

// note adds to replaced the value files that ops take a key away from:
// the file the key names before them (in the overlay, or else in the
// database) and those an earlier op of the group named. It runs before
// ops take effect.
func (s *Store) note(ops []walOp, replaced *[]string) {
	cur := map[string]string{} // key -> the file it names, as ops go
	_ = s.db.View(func(tx *bolt.Tx) error {
		fb := tx.Bucket(filesBucket)
		for _, o := range ops {
			if _, seen := cur[o.key]; seen {
				continue
			}
			if e, ok := s.ov.get(o.key); ok {
				cur[o.key] = e.file
				continue
			}
			cur[o.key] = string(fb.Get([]byte(o.key))) // "" when none
		}
		return nil
	})
	for _, o := range ops {
		if f := cur[o.key]; f != "" {
			*replaced = append(*replaced, f)
		}
		cur[o.key] = ""
		if o.kind == opFile {
			cur[o.key] = string(o.val)
		}
	}
}

// checkpoint puts the overlay into the database and empties the log.
// Only the committer calls it.
func (s *Store) checkpoint() error {
	if s.walSize == 0 {
		return nil
	}
	s.ov.mu.RLock()
	keys := make([]string, 0, len(s.ov.m))
	for k := range s.ov.m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // bbolt writes in key order fastest
	ops := make([]walOp, len(keys))
	for i, k := range keys {
		ops[i] = s.ov.m[k].op(k)
	}
	s.ov.mu.RUnlock()
	if err := s.db.Update(func(tx *bolt.Tx) error { return put(tx, ops) }); err != nil {
		return fmt.Errorf("store: checkpoint: %w", err)
	}
	if err := s.truncate(); err != nil {
		// The database holds it all; a log left full is replayed
		// harmlessly at the next open, but no record may follow a
		// record the truncation may have cut.
		s.broken = err
		return err
	}
	s.ov.mu.Lock()
	s.ov.m = map[string]entry{}
	s.ov.mu.Unlock()
	return nil
}

// syncLog syncs the log after an append; tests make it fail.
var syncLog = fdatasync

// fdatasync syncs f's data (and the size that reaches it), not its times.
func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}
