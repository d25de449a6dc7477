// Package history is the on-disk format of a run's history: one JSON object
// per line, an invoke followed by exactly one completion for every client
// operation, and nemesis events on the same time axis.
package history

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Type is the kind of a history line.
type Type string

// Line types. A client operation is an Invoke followed by one of Ok, Fail
// (known not to have taken effect) or Info (unknown: it may have taken
// effect at any time after its invocation, or never).
const (
	Invoke  Type = "invoke"
	Ok      Type = "ok"
	Fail    Type = "fail"
	Info    Type = "info"
	Nemesis Type = "nemesis"
	// End is the last line of a history the harness finished writing:
	// a history without it was cut short (a crashed or killed controller)
	// and cannot be called valid. Its Fault lists the fault kinds the run
	// asked for (comma-separated), and a non-empty Error says why the run
	// cannot pass whatever its operations show (it was interrupted, say).
	End Type = "end"
)

// Operation functions.
const (
	FRead  = "read"
	FWrite = "write"
	// Nemesis lines use FStart and FStop; a reconfiguration is a nemesis
	// fault named "reconfig".
	FStart = "start"
	FStop  = "stop"
	// FCover is a coverable write (CoARES): Value is the value to write
	// and Base the version it is based on, BaseValue that version's value.
	// Its Ok completion either wrote Value (Tag is the new version) or was
	// Covered: it then wrote nothing and returned the latest Value (Tag is
	// its version), as a read.
	FCover = "cover"
	// FCAS is a compare-and-set (foreign histories, Jepsen's cas-register):
	// it sets Value if the register holds BaseValue. Ok: it did; Fail: the
	// register held something else.
	FCAS = "cas"

	// FReadFile and FWriteFile are whole-file operations on a fragmented
	// file (the file workload): Key is the file, Value a digest of the
	// content read or written ("" for the empty file). The block
	// operations each is made of are recorded as reads and covers by
	// process Process+BlockProcess.
	FReadFile  = "read-file"
	FWriteFile = "write-file"
)

// BlockProcess is added to a file operation's process to name the
// process of its block operations: both run at once, and a process has
// one operation in flight at a time.
const BlockProcess = 1_000_000

// ClientF reports whether f is a client operation's function.
func ClientF(f string) bool {
	switch f {
	case FRead, FWrite, FCover, FCAS, FReadFile, FWriteFile:
		return true
	}
	return false
}

// Op is one history line.
type Op struct {
	Type Type `json:"type"`
	// Process is the logical client process; a client whose operation ended
	// in Info continues as a new process, as in Jepsen.
	Process int    `json:"process"`
	F       string `json:"f"`
	Key     string `json:"key,omitempty"`
	// Value is the written value on a write's invoke and completion, and the
	// value a read returned on its Ok completion ("" is the initial value).
	// Written values are unique per run, so a read names the write it saw.
	Value string `json:"value,omitempty"`
	// Time is monotonic nanoseconds since the run began.
	Time  int64  `json:"time"`
	Error string `json:"error,omitempty"`
	// Nemesis lines: Fault names the fault kind, ID pairs a start with its
	// stop, Value describes the fault (its targets).
	Fault string `json:"fault,omitempty"`
	ID    int    `json:"id,omitempty"`

	// The fields below are optional: histories without them (older runs,
	// foreign histories) still check. See docs/HISTORY.md.

	// Tag is the protocol tag an ok operation wrote (writes) or returned
	// (reads); the initial value's tag is {0, ""}.
	Tag *Tag `json:"tag,omitempty"`
	// Config is the index of the configuration an ok operation finished
	// in (the last configuration it put its value or tag into).
	Config *uint64 `json:"config,omitempty"`
	// Configs is how many configurations the operation visited.
	Configs int `json:"configs,omitempty"`
	// Elements is, for an EC read, how many coded elements its value was
	// decoded from.
	Elements int `json:"elements,omitempty"`
	// Behind says a server of the operation's first-phase quorum held an
	// older tag than the quorum's newest (for a write: its get-tag quorum
	// missed the newest tag on some server).
	Behind bool `json:"behind,omitempty"`
	// Base is the version a cover operation is based on; BaseValue is its
	// value (cover) or the value a cas expects (cas).
	Base      *Tag   `json:"base,omitempty"`
	BaseValue string `json:"base_value,omitempty"`
	// Covered marks a cover operation whose base was no longer the latest
	// version: it wrote nothing and returned the latest value.
	Covered bool `json:"covered,omitempty"`
	// Final marks the harness's own reads of every key after the faults
	// were healed; they are not workload operations and do not count
	// towards the availability floor.
	Final bool `json:"final,omitempty"`
}

// Tag is an ARES tag ⟨ts, wid⟩: writes are totally ordered by it.
type Tag struct {
	TS  uint64 `json:"ts"`
	WID string `json:"wid"`
}

// Less reports whether t orders before o.
func (t Tag) Less(o Tag) bool {
	if t.TS != o.TS {
		return t.TS < o.TS
	}
	return t.WID < o.WID
}

// IsZero reports whether t is the initial value's tag.
func (t Tag) IsZero() bool { return t.TS == 0 && t.WID == "" }

func (t Tag) String() string { return fmt.Sprintf("⟨%d,%s⟩", t.TS, t.WID) }

// IsClient reports whether the line belongs to a client operation.
func (o *Op) IsClient() bool { return o.Type != Nemesis && o.Type != End }

// Writer appends lines to a history file, flushing each as it goes so that
// a run that dies still leaves a checkable prefix. It is safe for
// concurrent use.
type Writer struct {
	mu  sync.Mutex
	f   *os.File
	w   *bufio.Writer
	enc *json.Encoder
	err error
}

// Create creates (or truncates) a history file.
func Create(path string) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create history: %w", err)
	}
	w := bufio.NewWriter(f)
	return &Writer{f: f, w: w, enc: json.NewEncoder(w)}, nil
}

// Append writes one line and flushes it to the file.
func (h *Writer) Append(op Op) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return h.err
	}
	if err := h.enc.Encode(&op); err != nil {
		h.err = fmt.Errorf("write history: %w", err)
		return h.err
	}
	if err := h.w.Flush(); err != nil {
		h.err = fmt.Errorf("write history: %w", err)
	}
	return h.err
}

// Close flushes, syncs and closes the file.
func (h *Writer) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	err := h.w.Flush()
	if e := h.f.Sync(); err == nil {
		err = e
	}
	if e := h.f.Close(); err == nil {
		err = e
	}
	return err
}

// ParseError is a malformed line. Read returns it together with every line
// before it, so the prefix stays checkable.
type ParseError struct {
	Line int
	Err  error
}

func (e *ParseError) Error() string { return fmt.Sprintf("history line %d: %v", e.Line, e.Err) }

func (e *ParseError) Unwrap() error { return e.Err }

// ReadFile reads a history file; see Read.
func ReadFile(path string) ([]Op, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open history: %w", err)
	}
	defer f.Close()
	hint := 0
	if fi, err := f.Stat(); err == nil {
		// Lines run 80 to 200 bytes: growing a slice of large structs
		// by doubling costs more than a generous guess.
		hint = int(fi.Size() / 100)
	}
	return read(f, hint)
}

// Read parses a history. On a malformed line it returns the lines before it
// and a *ParseError naming the line. A last line without its newline that
// does not parse (a run killed mid-write) is dropped the same way.
func Read(r io.Reader) ([]Op, error) { return read(r, 0) }

// read is Read with room for hint lines.
func read(r io.Reader, hint int) ([]Op, error) {
	ops := make([]Op, 0, hint)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 256*1024), 16*1024*1024)
	dec := newDecoder()
	n := 0
	for sc.Scan() {
		n++
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		ops = append(ops, Op{})
		op := &ops[len(ops)-1]
		if !dec.decode(b, op) {
			// Not the writer's plain form: let encoding/json decide
			// (and word the error).
			*op = Op{}
			if err := json.Unmarshal(b, op); err != nil {
				return ops[:len(ops)-1], &ParseError{Line: n, Err: err}
			}
		}
		if err := op.validate(); err != nil {
			return ops[:len(ops)-1], &ParseError{Line: n, Err: err}
		}
	}
	if err := sc.Err(); err != nil {
		return ops, &ParseError{Line: n + 1, Err: err}
	}
	return ops, nil
}

func (o *Op) validate() error {
	switch o.Type {
	case Invoke, Ok, Fail, Info:
		if !ClientF(o.F) {
			return fmt.Errorf("unknown f %q", o.F)
		}
	case Nemesis:
		if o.F != FStart && o.F != FStop {
			return fmt.Errorf("nemesis line with f %q (want start or stop)", o.F)
		}
	case End:
	case "":
		return errors.New("missing type")
	default:
		return fmt.Errorf("unknown type %q", o.Type)
	}
	if o.Time < 0 {
		return fmt.Errorf("negative time %d", o.Time)
	}
	return nil
}
