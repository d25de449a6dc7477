// Package workloads generates the operations of a run's clients: reads and
// writes of single or multi-key registers and of large objects, with uniform
// or zipf key choice, a read/write mix and an optional shared rate limit.
// A generator is deterministic from (seed, client index).
package workloads

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/ares-torture/torture/history"
)

// Workload names.
const (
	Register = "register"
	Large    = "large"
	// Cover drives coverable registers (CoARES): reads and coverable
	// writes, each based on the version its client last saw of the key.
	Cover = "cover"
	// File drives fragmented files (CoARESF): whole-file reads, and edits
	// at random offsets by each file's one writer (harness/files.go).
	File = "file"
)

// Key distributions.
const (
	Uniform = "uniform"
	Zipf    = "zipf"
)

// Size limits.
const (
	// MaxValueSize bounds --value-size: larger objects than this say more
	// about the transport's message limits than about the protocol.
	MaxValueSize = 64 << 20
	// MaxKeys bounds --keys: every key name is kept in memory, and more
	// keys than operations only dilutes contention.
	MaxKeys = 1 << 20
	// DefaultLargeValueSize is the object size of the large workload when
	// ValueSize is 0.
	DefaultLargeValueSize = 1 << 20
	// DefaultFileSize is the first size of each file of the file workload
	// when ValueSize is 0.
	DefaultFileSize = 1 << 20
	// zipfS is the zipf exponent: k0 is the hottest key, and with s slightly
	// above 1 a few keys take most of the traffic without starving the rest.
	zipfS = 1.1
)

// Options describe a workload. The zero Workload and Dist mean Register and
// Uniform.
type Options struct {
	// Workload is Register or Large.
	Workload string
	// Keys is the number of keys, named k0..k<Keys-1>; Keys=1 is a single
	// register.
	Keys int
	// ReadRatio is the share of reads, in [0, 1].
	ReadRatio float64
	// ValueSize is the size in bytes of a written payload (at least the
	// value id and a separator, see Encode). 0 means the smallest payload
	// for Register and DefaultLargeValueSize for Large.
	ValueSize int
	// Dist is Uniform or Zipf.
	Dist string
	// Rate is the total rate in operations per second shared by all
	// clients; 0 means closed loop (every client as fast as it can).
	Rate float64
}

// Defaults returns sensible options for a workload: eight keys of small
// values for Register, two keys of DefaultLargeValueSize for Large (large
// objects are about throughput of big payloads, not contention over many
// keys).
func Defaults(workload string) Options {
	switch workload {
	case Large:
		return Options{Workload: Large, Keys: 2, ReadRatio: 0.5, ValueSize: DefaultLargeValueSize, Dist: Uniform}
	case File:
		return Options{Workload: File, Keys: 2, ReadRatio: 0.5, ValueSize: DefaultFileSize, Dist: Uniform}
	case Cover:
		// Few keys and mostly writes: covered writes need contention.
		return Options{Workload: Cover, Keys: 4, ReadRatio: 0.3, ValueSize: 64, Dist: Uniform}
	}
	return Options{Workload: Register, Keys: 8, ReadRatio: 0.5, ValueSize: 64, Dist: Uniform}
}

// withDefaults fills the zero values that have a meaning.
func (o Options) withDefaults() Options {
	if o.Workload == "" {
		o.Workload = Register
	}
	if o.Dist == "" {
		o.Dist = Uniform
	}
	if o.Workload == Large && o.ValueSize == 0 {
		o.ValueSize = DefaultLargeValueSize
	}
	if o.Workload == File && o.ValueSize == 0 {
		o.ValueSize = DefaultFileSize
	}
	return o
}

// Effective returns the options a generator uses: o with its defaults
// filled in.
func (o Options) Effective() Options { return o.withDefaults() }

// Validate reports the first invalid option.
func (o Options) Validate() error {
	o = o.withDefaults()
	switch o.Workload {
	case Register, Large, Cover, File:
	default:
		return fmt.Errorf("unknown workload %q (want %s, %s, %s or %s)", o.Workload, Register, Large, Cover, File)
	}
	if o.Keys < 1 {
		return fmt.Errorf("keys must be at least 1, got %d", o.Keys)
	}
	if o.Keys > MaxKeys {
		return fmt.Errorf("keys %d is above the limit of %d", o.Keys, MaxKeys)
	}
	if math.IsNaN(o.ReadRatio) || o.ReadRatio < 0 || o.ReadRatio > 1 {
		return fmt.Errorf("read ratio must be between 0 and 1, got %v", o.ReadRatio)
	}
	if o.ValueSize < 0 {
		return fmt.Errorf("value size must not be negative, got %d", o.ValueSize)
	}
	if o.ValueSize > MaxValueSize {
		return fmt.Errorf("value size %d is above the limit of %d bytes", o.ValueSize, MaxValueSize)
	}
	switch o.Dist {
	case Uniform, Zipf:
	default:
		return fmt.Errorf("unknown key distribution %q (want %s or %s)", o.Dist, Uniform, Zipf)
	}
	if math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0) || o.Rate < 0 {
		return fmt.Errorf("rate must be a finite number >= 0 (0 = closed loop), got %v", o.Rate)
	}
	return nil
}

// KeyName returns the name of key i.
func KeyName(i int) string { return fmt.Sprintf("k%d", i) }

// KeyNames returns the names of every key of the options, in order.
func (o Options) KeyNames() []string {
	out := make([]string, 0, max(o.Keys, 0))
	for i := 0; i < o.Keys; i++ {
		out = append(out, KeyName(i))
	}
	return out
}

// Op is one generated operation.
type Op struct {
	// F is history.FRead, history.FWrite, or history.FCover (the cover
	// workload's writes).
	F   string
	Key string
	// Value is the unique value id of a write (empty for a read); the
	// payload sent is Encode(Value, size), see Generator.Payload.
	Value string
	// File is the index of the file of a file operation (the file
	// workload: F is history.FReadFile or history.FWriteFile).
	File int
}

// Generator produces one client's operations. It is not safe for
// concurrent use: each client owns its generator.
type Generator struct {
	opts   Options
	client int
	rng    *rand.Rand
	zipf   *rand.Zipf
	keys   []string
	n      uint64
}

// New returns the generator of client index client (>= 0). The same
// (opts, seed, client) always yields the same sequence of operations.
// Written values are "c<client>-<n>": unique in a run as long as every
// client index of the run is distinct, also when the harness gives a client
// a new process id after an indeterminate operation.
func New(opts Options, seed int64, client int) (*Generator, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if client < 0 {
		return nil, errors.New("client index must not be negative")
	}
	opts = opts.withDefaults()
	// The client index is the PCG's second seed word, so clients of one run
	// draw from distinct streams.
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(client)))
	g := &Generator{opts: opts, client: client, rng: rng, keys: opts.KeyNames()}
	if opts.Dist == Zipf {
		g.zipf = rand.NewZipf(rng, zipfS, 1, uint64(opts.Keys-1))
	}
	return g, nil
}

// Options returns the effective options of the generator.
func (g *Generator) Options() Options { return g.opts }

// Next returns the next operation.
func (g *Generator) Next() Op {
	var idx int
	if g.zipf != nil {
		idx = int(g.zipf.Uint64())
	} else {
		idx = g.rng.IntN(len(g.keys))
	}
	key := g.keys[idx]
	// Float64 is in [0, 1), so a ratio of 0 never reads and 1 always does.
	read := g.rng.Float64() < g.opts.ReadRatio
	if g.opts.Workload == File {
		if read {
			return Op{F: history.FReadFile, File: idx}
		}
		return Op{F: history.FWriteFile, File: idx}
	}
	if read {
		return Op{F: history.FRead, Key: key}
	}
	g.n++
	f := history.FWrite
	if g.opts.Workload == Cover {
		f = history.FCover
	}
	return Op{F: f, Key: key, Value: fmt.Sprintf("c%d-%d", g.client, g.n)}
}

// Payload returns the bytes to write for a write op: its value encoded to
// the workload's value size.
func (g *Generator) Payload(op Op) []byte { return Encode(op.Value, g.opts.ValueSize) }
