// Package bench holds the measurements of `torture bench all` (issue 14)
// and the rows they make: latency over a quorum round trip and bytes on
// the wire (Latency), what another build's binaries measure in the same
// session (Baseline*), and a Session whose Add* methods measure each kind
// of figure and add its rows. It also prints the table. The command in
// cmd/torture parses the flags, hands a Session what only it can run
// (bench tables' and bench bugs' runs, as function values) and prints
// and saves the rows.
package bench

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// Status of a row.
const (
	Pass    = "pass"    // the figure meets its limit
	Fail    = "fail"    // the figure misses its limit
	Info    = "info"    // a figure without a limit (beside its baseline only)
	Skipped = "skipped" // not measured, on purpose (Note says why)
	Error   = "error"   // the measurement failed (Note says how)
)

// Directions of a limit.
const (
	AtMost  = "<="
	AtLeast = ">="
)

// Row is one figure of the table. Value is what was measured, in Unit;
// Limit (with Op) what it should meet, when the issue sets one; Baseline
// the same figure measured with the baseline build's binaries in the same
// session, and VsBaseline Value over Baseline. Detail holds the absolute
// figures a ratio is made of.
type Row struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Value      *float64 `json:"value,omitempty"`
	Unit       string   `json:"unit"`
	Op         string   `json:"limit_op,omitempty"`
	Limit      *float64 `json:"limit,omitempty"`
	LimitText  string   `json:"limit_text,omitempty"`
	Baseline   *float64 `json:"baseline,omitempty"`
	VsBaseline *float64 `json:"vs_baseline,omitempty"`
	Status     string   `json:"status"`
	Detail     string   `json:"detail,omitempty"`
	Note       string   `json:"note,omitempty"`
}

// F returns a pointer to v, or nil when v is not a finite number.
func F(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// Judge sets the row's status from its value and limit (Info without a
// limit), and VsBaseline from the baseline. A row that already has a
// status (skipped, error) keeps it.
func (r *Row) Judge() {
	if r.Value != nil && r.Baseline != nil && *r.Baseline != 0 {
		r.VsBaseline = F(*r.Value / *r.Baseline)
	}
	if r.Status != "" {
		return
	}
	switch {
	case r.Value == nil:
		r.Status = Error
		if r.Note == "" {
			r.Note = "no figure"
		}
	case r.Limit == nil:
		r.Status = Info
	case r.Op == AtMost && *r.Value <= *r.Limit, r.Op == AtLeast && *r.Value >= *r.Limit:
		r.Status = Pass
	default:
		r.Status = Fail
	}
}

// Num formats a figure with three significant digits or so.
func Num(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 0.1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

func (r *Row) valueText() string {
	if r.Value == nil {
		return "-"
	}
	return Num(*r.Value) + unitSuffix(r.Unit)
}

func unitSuffix(u string) string {
	switch u {
	case "x", "":
		return "x"
	case "ops/s":
		return " ops/s"
	case "s":
		return "s"
	}
	return " " + u
}

func (r *Row) limitText() string {
	if r.LimitText != "" {
		return r.LimitText
	}
	if r.Limit == nil {
		return "-"
	}
	return r.Op + " " + Num(*r.Limit) + unitSuffix(r.Unit)
}

func (r *Row) baselineText() string {
	if r.Baseline == nil {
		return "-"
	}
	return Num(*r.Baseline) + unitSuffix(r.Unit)
}

func (r *Row) vsText() string {
	if r.VsBaseline == nil {
		return "-"
	}
	return Num(*r.VsBaseline) + "x"
}

// Print writes the rows as an aligned table: figure, measured, limit,
// baseline build, measured over baseline, status, and the detail (or,
// for a skipped or failed measurement, the note).
func Print(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tmeasured\tlimit\tbaseline build\tvs baseline\tstatus\tdetail")
	for i := range rows {
		r := &rows[i]
		detail := r.Detail
		if r.Note != "" {
			detail = strings.TrimSpace(r.Note + "; " + detail)
			detail = strings.TrimSuffix(detail, ";")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.valueText(), r.limitText(), r.baselineText(), r.vsText(),
			strings.ToUpper(r.Status), detail)
	}
	tw.Flush()
}

// Counts tallies the rows by status.
func Counts(rows []Row) map[string]int {
	m := map[string]int{}
	for _, r := range rows {
		m[r.Status]++
	}
	return m
}
