package sim

import (
	"sort"
	"strings"
	"sync"
)

// Disk is a server's simulated storage. It keeps what was written but not
// yet synced apart from what is on the platter: a crash of the process
// keeps both (the page cache survives kill -9), a power loss drops the
// unsynced part. Apply syncs; ApplyUnsynced (ares.Unsynced) does not.
type Disk struct {
	mu       sync.Mutex
	synced   map[string][]byte
	unsynced map[string][]byte // nil value: deleted but not synced
}

// NewDisk returns an empty disk.
func NewDisk() *Disk { return &Disk{synced: map[string][]byte{}, unsynced: map[string][]byte{}} }

// Get implements ares.Storage: what a read(2) returns, synced or not.
func (d *Disk) Get(key string) ([]byte, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.lookup(key)
	return append([]byte(nil), v...), ok, nil
}

func (d *Disk) lookup(key string) ([]byte, bool) {
	if v, ok := d.unsynced[key]; ok {
		return v, v != nil
	}
	v, ok := d.synced[key]
	return v, ok
}

// Apply implements ares.Storage: write and sync (the whole cache, as
// fsync of the one file of a store does).
func (d *Disk) Apply(puts map[string][]byte, dels []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.write(puts, dels)
	d.syncLocked()
	return nil
}

// ApplyUnsynced implements ares.Unsynced: write without sync.
func (d *Disk) ApplyUnsynced(puts map[string][]byte, dels []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.write(puts, dels)
	return nil
}

func (d *Disk) write(puts map[string][]byte, dels []string) {
	for _, k := range dels {
		d.unsynced[k] = nil
	}
	for k, v := range puts {
		d.unsynced[k] = append([]byte{}, v...)
	}
}

func (d *Disk) syncLocked() {
	for k, v := range d.unsynced {
		if v == nil {
			delete(d.synced, k)
		} else {
			d.synced[k] = v
		}
	}
	clear(d.unsynced)
}

// PowerLoss drops what was never synced, and reports how many keys that was.
func (d *Disk) PowerLoss() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := len(d.unsynced)
	clear(d.unsynced)
	return n
}

// Scan implements ares.Storage.
func (d *Disk) Scan(prefix string, fn func(string, []byte) error) error {
	d.mu.Lock()
	seen := map[string]bool{}
	var keys []string
	for _, m := range []map[string][]byte{d.unsynced, d.synced} {
		for k := range m {
			if strings.HasPrefix(k, prefix) && !seen[k] {
				seen[k] = true
				if _, ok := d.lookup(k); ok {
					keys = append(keys, k)
				}
			}
		}
	}
	sort.Strings(keys)
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		v, _ := d.lookup(k)
		vals[i] = append([]byte(nil), v...)
	}
	d.mu.Unlock()
	for i, k := range keys {
		if err := fn(k, vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// Close implements ares.Storage.
func (d *Disk) Close() error { return nil }
