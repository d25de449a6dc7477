package tracing

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	collpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// Span is one span read back from an OTLP JSON file.
type Span struct {
	ID, Parent string
	Name       string
	Start, End time.Time
	Attrs      map[string]string
	Error      string
	children   []*Span
}

// Duration is the span's length.
func (s *Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// ReadFiles reads the spans of OTLP JSON files (one export request a
// line). A last line without its newline that does not parse is skipped:
// a process killed while exporting (kill -9, a power loss) leaves one torn
// line, and the spans before it still count. Any other bad line is an
// error.
func ReadFiles(paths ...string) ([]*Span, error) {
	var out []*Span
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		for line := 1; len(data) > 0; line++ {
			text, rest, complete := bytes.Cut(data, []byte("\n"))
			data = rest
			if len(bytes.TrimSpace(text)) == 0 {
				continue
			}
			var req collpb.ExportTraceServiceRequest
			if err := protojson.Unmarshal(text, &req); err != nil {
				if !complete {
					break // torn last line
				}
				return nil, fmt.Errorf("%s:%d: %w", p, line, err)
			}
			for _, rs := range req.ResourceSpans {
				for _, ss := range rs.ScopeSpans {
					for _, s := range ss.Spans {
						sp := &Span{ID: hex.EncodeToString(s.SpanId), Parent: hex.EncodeToString(s.ParentSpanId), Name: s.Name,
							Start: time.Unix(0, int64(s.StartTimeUnixNano)), End: time.Unix(0, int64(s.EndTimeUnixNano)),
							Attrs: map[string]string{}}
						for _, a := range s.Attributes {
							sp.Attrs[a.Key] = valueString(a.Value)
						}
						if s.Status != nil && s.Status.Message != "" {
							sp.Error = s.Status.Message
						}
						out = append(out, sp)
					}
				}
			}
		}
	}
	return out, nil
}

// OpTimes is where the time of one kind of operation goes.
type OpTimes struct {
	Op          string
	Count       int
	Median, P99 time.Duration
	// Phases are the operation's phases, the slowest median first: the
	// time an operation spent in each (all its spans of that name).
	Phases []PhaseTimes
	// Slowest is the span tree of the slowest operation, one span a line.
	Slowest string
}

// PhaseTimes are one phase's times over the operations that ran it.
type PhaseTimes struct {
	Phase       string
	Ops         int
	Median, P99 time.Duration
}

// Summarize says where the time of each operation kind ("read", "write",
// "reconfig": the spans without a parent among spans) goes.
func Summarize(spans []*Span) []OpTimes {
	byID := map[string]*Span{}
	for _, s := range spans {
		byID[s.ID] = s
	}
	var roots []*Span
	for _, s := range spans {
		if p, ok := byID[s.Parent]; ok {
			p.children = append(p.children, s)
		} else {
			roots = append(roots, s)
		}
	}
	for _, s := range spans {
		slices.SortFunc(s.children, func(a, b *Span) int { return a.Start.Compare(b.Start) })
	}
	kinds := map[string][]*Span{}
	for _, r := range roots {
		kinds[r.Name] = append(kinds[r.Name], r)
	}
	var out []OpTimes
	for _, op := range slices.Sorted(maps.Keys(kinds)) {
		ops := kinds[op]
		ot := OpTimes{Op: op, Count: len(ops)}
		var total []time.Duration
		phase := map[string][]time.Duration{}
		var slowest *Span
		for _, o := range ops {
			total = append(total, o.Duration())
			if slowest == nil || o.Duration() > slowest.Duration() {
				slowest = o
			}
			per := map[string]time.Duration{}
			for _, c := range o.children {
				per[c.Name] += c.Duration()
			}
			for name, d := range per {
				phase[name] = append(phase[name], d)
			}
		}
		ot.Median, ot.P99 = quantiles(total)
		for name, ds := range phase {
			m, p := quantiles(ds)
			ot.Phases = append(ot.Phases, PhaseTimes{Phase: name, Ops: len(ds), Median: m, P99: p})
		}
		sort.Slice(ot.Phases, func(i, j int) bool {
			a, b := ot.Phases[i], ot.Phases[j]
			return a.Median > b.Median || a.Median == b.Median && a.Phase < b.Phase
		})
		var b strings.Builder
		tree(&b, slowest, slowest.Start, 0)
		ot.Slowest = b.String()
		out = append(out, ot)
	}
	return out
}

// tree writes s and its descendants, indented, with their offsets from t0.
func tree(b *strings.Builder, s *Span, t0 time.Time, depth int) {
	fmt.Fprintf(b, "%s%s +%v %v", strings.Repeat("  ", depth), s.Name, s.Start.Sub(t0).Round(time.Microsecond), s.Duration().Round(time.Microsecond))
	for _, k := range []string{"ares.key", "ares.server", "ares.config", "ares.attempt", "ares.abandoned"} {
		if v, ok := s.Attrs[k]; ok {
			fmt.Fprintf(b, " %s=%s", strings.TrimPrefix(k, "ares."), v)
		}
	}
	if s.Error != "" {
		fmt.Fprintf(b, " error=%q", s.Error)
	}
	b.WriteByte('\n')
	for _, c := range s.children {
		tree(b, c, t0, depth+1)
	}
}

// valueString is an attribute value as text.
func valueString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	}
	return protojson.Format(v)
}

func quantiles(ds []time.Duration) (median, p99 time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)/2], s[(len(s)-1)*99/100]
}
