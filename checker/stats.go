package checker

import (
	"math"
	"sort"
	"strings"

	"github.com/ares-torture/torture/history"
)

// Counts counts client operations by outcome.
type Counts struct {
	Invoked int `json:"invoked"`
	OK      int `json:"ok"`
	Fail    int `json:"fail"`
	Info    int `json:"info"`
	// Pending operations have no completion (a truncated history).
	Pending int `json:"pending"`
}

// Quantiles are latencies of ok operations in milliseconds.
type Quantiles struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// Period is a stretch of the run during which the same faults were active.
// Operations count in the period in which they completed.
type Period struct {
	Start int64 `json:"start_ns"`
	End   int64 `json:"end_ns"`
	// Faults are the active faults ("kind targets"); empty when healthy.
	Faults []string `json:"faults"`
	OK     int      `json:"ok"`
	Fail   int      `json:"fail"`
	Info   int      `json:"info"`
	// Availability is the ok share of the operations completed in the
	// period; null when none completed.
	Availability *float64 `json:"availability"`
}

// FaultSet aggregates the periods with the same set of active fault kinds
// ("none" for no fault).
type FaultSet struct {
	Faults       string   `json:"faults"`
	Seconds      float64  `json:"seconds"`
	OK           int      `json:"ok"`
	Fail         int      `json:"fail"`
	Info         int      `json:"info"`
	Availability *float64 `json:"availability"`
}

// RateBin counts the operations completed in one bin of the rate series.
type RateBin struct {
	OK   int `json:"ok"`
	Fail int `json:"fail"`
	Info int `json:"info"`
	// ReadOK and WriteOK split OK into reads and writes (other operations,
	// such as a foreign history's cas, are in neither).
	ReadOK  int `json:"read_ok"`
	WriteOK int `json:"write_ok"`
	// P50 and P99 are the latency quantiles (ms) of the bin's ok
	// operations; absent when none completed ok.
	P50 float64 `json:"p50_ms,omitempty"`
	P99 float64 `json:"p99_ms,omitempty"`
}

// Stats describe the run.
type Stats struct {
	// Ops counts per operation type: "read", "write" and "all".
	Ops             map[string]Counts    `json:"ops"`
	Keys            int                  `json:"keys"`
	DurationSeconds float64              `json:"duration_seconds"`
	OpsPerSecond    float64              `json:"ops_per_second"` // completed operations
	OKPerSecond     float64              `json:"ok_per_second"`
	Availability    *float64             `json:"availability"` // ok share of completed operations
	Latency         map[string]Quantiles `json:"latency"`      // per type, ok operations
	FaultSets       []FaultSet           `json:"fault_sets"`
	Periods         []Period             `json:"periods"`
	Nemesis         []interval           `json:"nemesis"`
	// Origin is the history time (ns) the report counts from and the rate
	// series starts at: 0, the recorder's start, as the anomaly
	// descriptions, the visualizations and history.jsonl count; only a
	// history whose first line is far from 0 (a foreign one stamped with
	// wall-clock times) counts from its first line instead.
	Origin         int64     `json:"origin_ns"`
	RateBinSeconds float64   `json:"rate_bin_seconds"`
	Rate           []RateBin `json:"rate"`
}

// maxRateBins caps the rate series; longer runs use wider bins.
const maxRateBins = 3600

func computeStats(h *prepared) Stats {
	st := Stats{
		Ops:     map[string]Counts{},
		Latency: map[string]Quantiles{},
		Nemesis: h.nemesis,
		Keys:    len(h.keys),
	}
	if st.Nemesis == nil {
		st.Nemesis = []interval{}
	}
	lat := map[string][]float64{}
	for i := range h.ops {
		o := &h.ops[i]
		for _, t := range []string{o.f, "all"} {
			c := st.Ops[t]
			c.Invoked++
			switch o.typ {
			case history.Ok:
				c.OK++
			case history.Fail:
				c.Fail++
			case history.Info:
				c.Info++
			default:
				c.Pending++
			}
			st.Ops[t] = c
		}
		if o.typ == history.Ok {
			lat[o.f] = append(lat[o.f], float64(o.ret-o.call)/1e6)
		}
	}
	for _, t := range []string{history.FRead, history.FWrite, "all"} {
		if _, ok := st.Ops[t]; !ok {
			st.Ops[t] = Counts{}
		}
	}
	for t, l := range lat {
		st.Latency[t] = quantiles(l)
	}
	all := st.Ops["all"]
	st.DurationSeconds = float64(h.end-h.begin) / 1e9
	if st.DurationSeconds > 0 {
		st.OpsPerSecond = float64(all.OK+all.Fail+all.Info) / st.DurationSeconds
		st.OKPerSecond = float64(all.OK) / st.DurationSeconds
	}
	st.Availability = share(all.OK, all.OK+all.Fail+all.Info)
	st.Periods, st.FaultSets = periods(h)
	st.Origin = origin(h)
	st.RateBinSeconds, st.Rate = rate(h, st.Origin)
	return st
}

// origin is the time the report counts from: history time 0 unless the
// history begins later than a minute and than its own length after it.
func origin(h *prepared) int64 {
	if h.begin <= max(h.end-h.begin, int64(60e9)) {
		return 0
	}
	return h.begin
}

func share(ok, n int) *float64 {
	if n == 0 {
		return nil
	}
	v := float64(ok) / float64(n)
	return &v
}

// quantiles uses the nearest-rank method.
func quantiles(l []float64) Quantiles {
	sort.Float64s(l)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(l)))) - 1
		if i < 0 {
			i = 0
		}
		return l[i]
	}
	return Quantiles{Count: len(l), P50: at(0.5), P90: at(0.9), P99: at(0.99), Max: l[len(l)-1]}
}

// periods splits the run at every nemesis start and stop.
func periods(h *prepared) ([]Period, []FaultSet) {
	cuts := []int64{h.begin}
	for _, iv := range h.nemesis {
		for _, t := range []int64{iv.Start, iv.End} {
			if t > h.begin && t < h.end {
				cuts = append(cuts, t)
			}
		}
	}
	sort.Slice(cuts, func(a, b int) bool { return cuts[a] < cuts[b] })
	uniq := cuts[:1]
	for _, c := range cuts[1:] {
		if c != uniq[len(uniq)-1] {
			uniq = append(uniq, c)
		}
	}
	cuts = uniq
	ps := make([]Period, len(cuts))
	kinds := make([]string, len(cuts))
	for i, c := range cuts {
		end := h.end
		if i+1 < len(cuts) {
			end = cuts[i+1]
		}
		ps[i] = Period{Start: c, End: end, Faults: []string{}}
		var ks []string
		for _, iv := range h.nemesis {
			if iv.Start <= c && c < iv.End {
				d := iv.Fault
				if iv.Value != "" {
					d += " " + iv.Value
				}
				ps[i].Faults = append(ps[i].Faults, d)
				ks = append(ks, iv.Fault)
			}
		}
		kinds[i] = faultKinds(ks)
	}
	for i := range h.ops {
		o := &h.ops[i]
		if o.ret < 0 {
			continue
		}
		j := sort.Search(len(cuts), func(j int) bool { return cuts[j] > o.ret }) - 1
		if j < 0 {
			j = 0
		}
		switch o.typ {
		case history.Ok:
			ps[j].OK++
		case history.Fail:
			ps[j].Fail++
		case history.Info:
			ps[j].Info++
		}
	}
	byKinds := map[string]*FaultSet{}
	var order []string
	for i := range ps {
		p := &ps[i]
		p.Availability = share(p.OK, p.OK+p.Fail+p.Info)
		fs, ok := byKinds[kinds[i]]
		if !ok {
			fs = &FaultSet{Faults: kinds[i]}
			byKinds[kinds[i]] = fs
			order = append(order, kinds[i])
		}
		fs.Seconds += float64(p.End-p.Start) / 1e9
		fs.OK += p.OK
		fs.Fail += p.Fail
		fs.Info += p.Info
	}
	sets := make([]FaultSet, 0, len(order))
	for _, k := range order {
		fs := byKinds[k]
		fs.Availability = share(fs.OK, fs.OK+fs.Fail+fs.Info)
		sets = append(sets, *fs)
	}
	return ps, sets
}

func faultKinds(ks []string) string {
	if len(ks) == 0 {
		return "none"
	}
	sort.Strings(ks)
	u := ks[:1]
	for _, k := range ks[1:] {
		if k != u[len(u)-1] {
			u = append(u, k)
		}
	}
	return strings.Join(u, "+")
}

// rate bins completions by their time since t0 (Stats.Origin): bin i
// holds the operations completed in [t0+i·width, t0+(i+1)·width).
func rate(h *prepared, t0 int64) (float64, []RateBin) {
	span := h.end - t0
	width := int64(1e9)
	for span/width+1 > maxRateBins {
		width *= 2
	}
	n := int(span/width) + 1
	if len(h.ops) == 0 {
		n = 0
	}
	bins := make([]RateBin, n)
	lat := make([][]float64, n)
	for i := range h.ops {
		o := &h.ops[i]
		if o.ret < 0 {
			continue
		}
		b := int((o.ret - t0) / width)
		if b < 0 || b >= n {
			continue
		}
		switch o.typ {
		case history.Ok:
			bins[b].OK++
			switch o.f {
			case history.FRead:
				bins[b].ReadOK++
			case history.FWrite:
				bins[b].WriteOK++
			}
			lat[b] = append(lat[b], float64(o.ret-o.call)/1e6)
		case history.Fail:
			bins[b].Fail++
		case history.Info:
			bins[b].Info++
		}
	}
	for b, l := range lat {
		if len(l) > 0 {
			q := quantiles(l)
			bins[b].P50, bins[b].P99 = q.P50, q.P99
		}
	}
	return float64(width) / 1e9, bins
}
