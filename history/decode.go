package history

import (
	"unicode/utf8"
)

// decoder parses the lines Writer writes without encoding/json's
// reflection: a 2,000,000-line history spent most of its reading time
// there. It accepts a strict subset of JSON (the known fields, each once;
// strings without escapes; integers without fraction or exponent); on
// anything else it reports false and the caller falls back to
// encoding/json, so the result is always what json.Unmarshal gives.
type decoder struct {
	// names interns the short strings that repeat on every line (keys,
	// fault names, writer ids), to save an allocation per line.
	names map[string]string
}

func newDecoder() *decoder { return &decoder{names: map[string]string{}} }

// Field bits, to refuse duplicate fields (encoding/json's merging rules
// for them are not worth copying).
const (
	fType = 1 << iota
	fProcess
	fF
	fKey
	fValue
	fTime
	fError
	fFault
	fID
	fTag
	fConfig
	fConfigs
	fElements
	fBehind
	fFinal
	fBase
	fBaseValue
	fCovered
)

// decode parses one line into op (which must be zero), or reports false.
func (d *decoder) decode(b []byte, op *Op) bool {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipWS(b, i+1) == len(b)
	}
	seen := 0
	for {
		name, j, ok := str(b, i)
		if !ok {
			return false
		}
		i = skipWS(b, j)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipWS(b, i+1)
		var bit int
		switch string(name) {
		case "type":
			bit = fType
			var s []byte
			if s, i, ok = str(b, i); ok {
				op.Type = Type(d.typeName(s))
			}
		case "process":
			bit = fProcess
			var n int64
			if n, i, ok = integer(b, i); ok {
				op.Process = int(n)
			}
		case "f":
			bit = fF
			var s []byte
			if s, i, ok = str(b, i); ok {
				op.F = d.intern(s)
			}
		case "key":
			bit = fKey
			var s []byte
			if s, i, ok = str(b, i); ok {
				op.Key = d.intern(s)
			}
		case "value":
			bit = fValue
			var s []byte
			if s, i, ok = str(b, i); ok {
				op.Value = string(s)
			}
		case "time":
			bit = fTime
			op.Time, i, ok = integer(b, i)
		case "error":
			bit = fError
			var s []byte
			if s, i, ok = str(b, i); ok {
				op.Error = d.intern(s)
			}
		case "fault":
			bit = fFault
			var s []byte
			if s, i, ok = str(b, i); ok {
				op.Fault = d.intern(s)
			}
		case "id":
			bit = fID
			var n int64
			if n, i, ok = integer(b, i); ok {
				op.ID = int(n)
			}
		case "configs":
			bit = fConfigs
			var n int64
			if n, i, ok = integer(b, i); ok {
				op.Configs = int(n)
			}
		case "elements":
			bit = fElements
			var n int64
			if n, i, ok = integer(b, i); ok {
				op.Elements = int(n)
			}
		case "behind":
			bit = fBehind
			op.Behind, i, ok = boolean(b, i)
		case "final":
			bit = fFinal
			op.Final, i, ok = boolean(b, i)
		case "config":
			bit = fConfig
			var n uint64
			if n, i, ok = unsigned(b, i); ok {
				op.Config = &n
			}
		case "tag":
			bit = fTag
			var t Tag
			if t, i, ok = d.tag(b, i); ok {
				op.Tag = &t
			}
		case "base":
			bit = fBase
			var t Tag
			if t, i, ok = d.tag(b, i); ok {
				op.Base = &t
			}
		case "base_value":
			bit = fBaseValue
			var s []byte
			if s, i, ok = str(b, i); ok {
				op.BaseValue = string(s)
			}
		case "covered":
			bit = fCovered
			op.Covered, i, ok = boolean(b, i)
		default:
			return false
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		i = skipWS(b, i)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return skipWS(b, i+1) == len(b)
		default:
			return false
		}
	}
}

// tag parses {"ts":N,"wid":"..."} with both fields, each once.
func (d *decoder) tag(b []byte, i int) (Tag, int, bool) {
	var t Tag
	if i >= len(b) || b[i] != '{' {
		return t, i, false
	}
	i = skipWS(b, i+1)
	seen := 0
	for {
		name, j, ok := str(b, i)
		if !ok {
			return t, i, false
		}
		i = skipWS(b, j)
		if i >= len(b) || b[i] != ':' {
			return t, i, false
		}
		i = skipWS(b, i+1)
		switch string(name) {
		case "ts":
			if seen&1 != 0 {
				return t, i, false
			}
			seen |= 1
			t.TS, i, ok = unsigned(b, i)
		case "wid":
			if seen&2 != 0 {
				return t, i, false
			}
			seen |= 2
			var s []byte
			if s, i, ok = str(b, i); ok {
				t.WID = d.intern(s)
			}
		default:
			return t, i, false
		}
		if !ok {
			return t, i, false
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return t, i, false
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return t, i + 1, true
		default:
			return t, i, false
		}
	}
}

func (d *decoder) typeName(s []byte) string {
	switch string(s) {
	case "invoke":
		return string(Invoke)
	case "ok":
		return string(Ok)
	case "fail":
		return string(Fail)
	case "info":
		return string(Info)
	case "nemesis":
		return string(Nemesis)
	case "end":
		return string(End)
	}
	return d.intern(s)
}

// intern returns s as a string, shared with earlier equal ones. The map
// is bounded so that a history of unique strings does not keep them all.
func (d *decoder) intern(s []byte) string {
	if v, ok := d.names[string(s)]; ok {
		return v
	}
	v := string(s)
	if len(d.names) < 4096 && len(s) <= 64 {
		d.names[v] = v
	}
	return v
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// str parses a string without escapes or control characters, returning
// its bytes (aliasing b) and the index after the closing quote.
func str(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	start := i + 1
	ascii := true
	for j := start; j < len(b); j++ {
		c := b[j]
		switch {
		case c == '"':
			s := b[start:j]
			// encoding/json replaces invalid UTF-8; leave that to it.
			if !ascii && !utf8.Valid(s) {
				return nil, i, false
			}
			return s, j + 1, true
		case c == '\\' || c < 0x20:
			return nil, i, false
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, i, false
}

// integer parses a JSON integer that fits an int64 (and an int, which
// is 64 bits wherever this runs). Fractions and exponents are refused,
// as encoding/json refuses them for integer fields.
func integer(b []byte, i int) (int64, int, bool) {
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	u, j, ok := unsigned(b, i)
	if !ok || u > 1<<63 || (!neg && u == 1<<63) {
		return 0, i, false
	}
	if neg {
		return -int64(u), j, true
	}
	return int64(u), j, true
}

func unsigned(b []byte, i int) (uint64, int, bool) {
	start := i
	var u uint64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		if u > (1<<64-1)/10 {
			return 0, start, false
		}
		n := u*10 + uint64(b[i]-'0')
		if n < u {
			return 0, start, false
		}
		u = n
		i++
	}
	switch {
	case i == start, b[start] == '0' && i-start > 1:
		return 0, start, false
	case i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E'):
		return 0, start, false
	}
	return u, i, true
}

func boolean(b []byte, i int) (bool, int, bool) {
	switch {
	case len(b)-i >= 4 && string(b[i:i+4]) == "true":
		return true, i + 4, true
	case len(b)-i >= 5 && string(b[i:i+5]) == "false":
		return false, i + 5, true
	}
	return false, i, false
}
