package foreign

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The EDN reader below reads the subset of EDN that Jepsen and Porcupine
// histories are written in: maps, vectors, lists, sets, keywords,
// symbols, integers, floats, strings, characters, nil, true and false,
// comments (`;`), discards (`#_`) and tagged literals (`#tag form`, read as
// their form). It is small on purpose: no dependency needed for it.

// Keyword is an EDN keyword without its colon (`:read` is Keyword("read")).
type Keyword string

// Symbol is an EDN symbol other than nil, true and false.
type Symbol string

// Number is an EDN integer or float as written, without a trailing N or
// M (big-number markers).
type Number string

// Char is an EDN character literal (`\a`, `\newline`), as written
// without its backslash.
type Char string

// Vector is an EDN vector `[...]`, List an EDN list `(...)` and Set an EDN
// set `#{...}`.
type (
	Vector []any
	List   []any
	Set    []any
)

// Map is an EDN map in the order written; Line is the 1-based line its
// opening brace is on.
type Map struct {
	Line       int
	Keys, Vals []any
}

// Get returns the value of the keyword key k and whether the map has it.
func (m *Map) Get(k string) (any, bool) {
	for i, key := range m.Keys {
		if kw, ok := key.(Keyword); ok && string(kw) == k {
			return m.Vals[i], true
		}
	}
	return nil, false
}

// Form is one top-level EDN form and the 1-based line it starts on.
type Form struct {
	Line  int
	Value any
}

// SyntaxError is malformed EDN: the line and column where reading stopped.
type SyntaxError struct {
	Line, Col int
	Msg       string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

// ReadEDN reads every top-level form of src. On malformed input it
// returns the forms read before it and a *SyntaxError.
func ReadEDN(src string) ([]Form, error) {
	r := &ednReader{src: src, line: 1, lineStart: 0}
	var forms []Form
	for {
		if err := r.skip(); err != nil {
			return forms, err
		}
		if r.pos >= len(r.src) {
			return forms, nil
		}
		line := r.line
		v, err := r.form()
		if err != nil {
			return forms, err
		}
		if v == discarded {
			continue
		}
		forms = append(forms, Form{Line: line, Value: v})
	}
}

// ednReader reads forms from src; line is the line of pos.
type ednReader struct {
	src       string
	pos       int
	line      int
	lineStart int
}

// discarded is what a `#_` form reads as.
var discarded = &struct{ x int }{}

func (r *ednReader) errf(format string, args ...any) error {
	return &SyntaxError{Line: r.line, Col: utf8.RuneCountInString(r.src[r.lineStart:min(r.pos, len(r.src))]) + 1, Msg: fmt.Sprintf(format, args...)}
}

// skip passes whitespace, commas and comments.
func (r *ednReader) skip() error {
	for r.pos < len(r.src) {
		c := r.src[r.pos]
		switch {
		case c == '\n':
			r.pos++
			r.line++
			r.lineStart = r.pos
		case c == ' ' || c == '\t' || c == '\r' || c == ',' || c == '\f':
			r.pos++
		case c == ';':
			for r.pos < len(r.src) && r.src[r.pos] != '\n' {
				r.pos++
			}
		default:
			return nil
		}
	}
	return nil
}

func isDelim(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', ',', '\f', '(', ')', '[', ']', '{', '}', '"', ';':
		return true
	}
	return false
}

// token reads a run of non-delimiter characters.
func (r *ednReader) token() string {
	start := r.pos
	for r.pos < len(r.src) && !isDelim(r.src[r.pos]) {
		r.pos++
	}
	return r.src[start:r.pos]
}

// form reads one form at pos (whitespace already skipped).
func (r *ednReader) form() (any, error) {
	if r.pos >= len(r.src) {
		return nil, r.errf("unexpected end of input")
	}
	c := r.src[r.pos]
	switch c {
	case '{':
		line := r.line
		r.pos++
		items, err := r.seq('}')
		if err != nil {
			return nil, err
		}
		if len(items)%2 != 0 {
			return nil, r.errf("map with an odd number of forms (%d)", len(items))
		}
		m := &Map{Line: line}
		for i := 0; i < len(items); i += 2 {
			m.Keys = append(m.Keys, items[i])
			m.Vals = append(m.Vals, items[i+1])
		}
		return m, nil
	case '[':
		r.pos++
		items, err := r.seq(']')
		return Vector(items), err
	case '(':
		r.pos++
		items, err := r.seq(')')
		return List(items), err
	case ')', ']', '}':
		return nil, r.errf("unexpected %q", c)
	case '"':
		return r.str()
	case '\\':
		r.pos++
		t := r.token()
		if t == "" && r.pos < len(r.src) { // \( \[ and the like
			t = r.src[r.pos : r.pos+1]
			r.pos++
		}
		if t == "" {
			return nil, r.errf("empty character literal")
		}
		return Char(t), nil
	case '#':
		r.pos++
		if r.pos >= len(r.src) {
			return nil, r.errf("unexpected end of input after #")
		}
		switch r.src[r.pos] {
		case '{':
			r.pos++
			items, err := r.seq('}')
			return Set(items), err
		case '_':
			r.pos++
			if err := r.skip(); err != nil {
				return nil, err
			}
			if _, err := r.form(); err != nil {
				return nil, err
			}
			return discarded, nil
		}
		tag := r.token()
		if tag == "" {
			return nil, r.errf("# followed by %q", r.src[r.pos])
		}
		// A tagged literal (#inst "...", #jepsen.history.Op{...}): its form.
		if err := r.skip(); err != nil {
			return nil, err
		}
		v, err := r.form()
		if err == nil && v == discarded {
			return nil, r.errf("tag #%s without a form", tag)
		}
		return v, err
	}
	t := r.token()
	if t == "" {
		return nil, r.errf("unexpected %q", c)
	}
	switch {
	case t == "nil":
		return nil, nil
	case t == "true":
		return true, nil
	case t == "false":
		return false, nil
	case t[0] == ':':
		if len(t) == 1 {
			return nil, r.errf("empty keyword")
		}
		return Keyword(t[1:]), nil
	case isNumber(t):
		n := strings.TrimRight(t, "NM")
		return Number(n), nil
	case t[0] >= '0' && t[0] <= '9':
		return nil, r.errf("malformed number %q", t)
	}
	return Symbol(t), nil
}

func isNumber(t string) bool {
	s := t
	if s[0] == '+' || s[0] == '-' {
		s = s[1:]
	}
	if s == "" || s[0] < '0' || s[0] > '9' {
		return false
	}
	s = strings.TrimSuffix(strings.TrimSuffix(s, "N"), "M")
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		return true
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return true
	}
	for _, c := range s { // a big integer
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// seq reads forms up to the closing delimiter end.
func (r *ednReader) seq(end byte) ([]any, error) {
	openLine := r.line
	var items []any
	for {
		if err := r.skip(); err != nil {
			return nil, err
		}
		if r.pos >= len(r.src) {
			return nil, r.errf("unexpected end of input: %q opened on line %d is not closed", map[byte]string{'}': "{", ']': "[", ')': "("}[end], openLine)
		}
		if r.src[r.pos] == end {
			r.pos++
			return items, nil
		}
		v, err := r.form()
		if err != nil {
			return nil, err
		}
		if v != discarded {
			items = append(items, v)
		}
	}
}

// str reads a string literal with its escapes.
func (r *ednReader) str() (any, error) {
	r.pos++ // the opening quote
	var b strings.Builder
	for r.pos < len(r.src) {
		c := r.src[r.pos]
		switch c {
		case '"':
			r.pos++
			return b.String(), nil
		case '\n':
			b.WriteByte(c)
			r.pos++
			r.line++
			r.lineStart = r.pos
		case '\\':
			if r.pos+1 >= len(r.src) {
				return nil, r.errf("unterminated string")
			}
			e := r.src[r.pos+1]
			r.pos += 2
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'u':
				if r.pos+4 > len(r.src) {
					return nil, r.errf("short \\u escape")
				}
				n, err := strconv.ParseUint(r.src[r.pos:r.pos+4], 16, 32)
				if err != nil {
					return nil, r.errf("bad \\u escape %q", r.src[r.pos:r.pos+4])
				}
				b.WriteRune(rune(n))
				r.pos += 4
			default:
				return nil, r.errf("unknown string escape \\%c", e)
			}
		default:
			b.WriteByte(c)
			r.pos++
		}
	}
	return nil, r.errf("unterminated string")
}

// ednString prints v back as EDN (for messages and the conversion notes).
func ednString(v any) string {
	switch x := v.(type) {
	case nil:
		return "nil"
	case bool:
		return strconv.FormatBool(x)
	case Keyword:
		return ":" + string(x)
	case Symbol:
		return string(x)
	case Number:
		return string(x)
	case Char:
		return `\` + string(x)
	case string:
		return strconv.Quote(x)
	case Vector:
		return "[" + joinEDN(x) + "]"
	case List:
		return "(" + joinEDN(x) + ")"
	case Set:
		return "#{" + joinEDN(x) + "}"
	case *Map:
		parts := make([]string, len(x.Keys))
		for i := range x.Keys {
			parts[i] = ednString(x.Keys[i]) + " " + ednString(x.Vals[i])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprintf("%v", v)
}

func joinEDN(xs []any) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = ednString(x)
	}
	return strings.Join(parts, " ")
}
