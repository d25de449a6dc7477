package main

// torture bench tables: the read latencies of Tables I and II of the ARES II
// slides (../shared/reference/ares-ii-slides.txt), measured on real servers
// on this machine, beside the slides' published figures as ratios.
//
// Table I: object size against CoARES (one coverable object) and CoARESF
// (a fragmented file of coverable blocks), each over ABD and EC, with and
// without piggyback (PB). Table II: a fresh reader that knows only the
// initial configuration, after (a) 11 pending reconfigurations and one
// finalized one, or (b) 12 finalized ones; ARES, CoARES and CoARES_F, each
// plain, with PB, and with PB and GC.
//
// The servers are in-process ares.Server handlers served over aresrpc's
// gRPC on loopback, each on its own bbolt store (ares/store, which syncs
// every commit before the server answers): the same code ares-server runs,
// without eleven processes to spawn and a binary to find, so that the test
// runs it too. Every scenario gets a fresh pool, so no scenario reads
// another's configurations or data.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/ares/aresrpc"
	"github.com/ares-torture/torture/ares/store"
	"github.com/ares-torture/torture/bench"
	"github.com/ares-torture/torture/fragment"
)

// Column names of Table I, in the order printed: per DAP, CoARES and
// CoARESF without and with PB.
var tableICols = []string{
	"CoARES-ABD", "CoARES-ABD PB", "CoARESF-ABD", "CoARESF-ABD PB",
	"CoARES-EC", "CoARES-EC PB", "CoARESF-EC", "CoARESF-EC PB",
}

// Column names of Table II, in the slides' order.
var tableIICols = []string{
	"ARES", "ARES PB", "ARES PB&GC",
	"CoARES", "CoARES PB", "CoARES PB&GC",
	"CoARES_F", "CoARES_F PB", "CoARES_F PB&GC",
}

// Table II scenarios.
const (
	scenarioPending   = "pending"
	scenarioFinalized = "finalized"
)

// naOneMessage marks a CoARES cell whose value does not fit one gRPC
// message: the object is written and read whole, so it cannot be stored.
const naOneMessage = "n/a (one message)"

// tablesCell is one cell: the read latency over Reads timed reads, in
// milliseconds; or NA (why there is no figure), or Error.
type tablesCell struct {
	Reads  int     `json:"reads"`
	Median float64 `json:"median_ms,omitempty"`
	P90    float64 `json:"p90_ms,omitempty"`
	Min    float64 `json:"min_ms,omitempty"`
	Max    float64 `json:"max_ms,omitempty"`
	NA     string  `json:"na,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// tablesRow is one row of either table: Scenario is empty in Table I.
type tablesRow struct {
	Scenario string                 `json:"scenario,omitempty"`
	Size     int64                  `json:"size"`
	Cells    map[string]*tablesCell `json:"cells"`
}

// tablesRatio is one measured ratio beside the slides' figure for the same
// ratio, when the slides have the row.
type tablesRatio struct {
	Table    string   `json:"table"`
	Scenario string   `json:"scenario,omitempty"`
	Size     int64    `json:"size"`
	Name     string   `json:"name"`
	Measured *float64 `json:"measured,omitempty"`
	Slides   *float64 `json:"slides,omitempty"`
}

// tablesSetup is what the bench ran with.
type tablesSetup struct {
	Servers     int     `json:"servers"`
	K           int     `json:"k"`
	Delta       int     `json:"delta"`
	Reads       int     `json:"reads"`
	SizesI      []int64 `json:"table1_sizes"`
	SizesII     []int64 `json:"table2_sizes"`
	DAPII       string  `json:"table2_dap"`
	Pending     int     `json:"pending"`
	MessageMax  int64   `json:"message_limit"`
	BlockMin    int     `json:"block_min"`
	BlockAvg    int     `json:"block_avg"`
	BlockMax    int     `json:"block_max"`
	ServerKinds string  `json:"servers_kind"`
}

// tablesFile is STORE/bench/tables-<start>.json, and what --json prints.
type tablesFile struct {
	Suite       string        `json:"suite"`
	Start       time.Time     `json:"start"`
	Args        []string      `json:"args"`
	Setup       tablesSetup   `json:"setup"`
	TableI      []*tablesRow  `json:"table1"`
	TableII     []*tablesRow  `json:"table2"`
	Ratios      []tablesRatio `json:"ratios"`
	Notes       []string      `json:"notes"`
	WallSeconds float64       `json:"wall_s"`
	Interrupted bool          `json:"interrupted,omitempty"`
	Error       string        `json:"error,omitempty"`
	File        string        `json:"file,omitempty"`
}

// The slides' published medians in milliseconds. Table I: per file size,
// CoARESABDF, CoARESABDF PB, CoARESECF, CoARESECF PB (11 servers, W:5, R:5).
var slidesTableI = map[int64][4]float64{
	1 << 20:   {284, 278, 149, 142},
	256 << 20: {9000, 5000, 9650, 3820},
	512 << 20: {21800, 15200, 23200, 10900},
}

// Table II, per scenario and size, in tableIICols order.
var slidesTableII = map[string]map[int64][9]float64{
	scenarioPending: {
		1 << 20:  {159, 494, 107, 162, 506, 110, 181, 191, 127},
		64 << 20: {5570, 27400, 5580, 5810, 26800, 5730, 6780, 6620, 6610},
	},
	scenarioFinalized: {
		1 << 20:  {159, 166, 119, 163, 167, 122, 186, 193, 135},
		64 << 20: {5800, 5760, 5710, 5880, 5980, 5820, 6920, 6730, 6740},
	},
}

func cmdBenchTables(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("torture bench tables", flag.ContinueOnError)
	fs.SetOutput(stderr)
	servers := fs.Int("servers", 11, "servers of every configuration (the slides: 11)")
	k := fs.Int("k", 0, "EC data shards (0: 6 with 11 servers, as in the authors' SSS'22 runs, else servers/2 at least 1)")
	delta := fs.Int("delta", 5, "EC δ of the servers (elements kept per object: δ+1)")
	reads := fs.Int("reads", 5, "timed reads per cell (median and p90 of them)")
	sizesI := fs.String("sizes", "1MiB,64MiB,256MiB", "Table I object sizes")
	sizesII := fs.String("t2-sizes", "1MiB,64MiB", "Table II object sizes")
	dapII := fs.String("t2-dap", "ec", "DAP of Table II's configurations (abd or ec)")
	pending := fs.Int("pending", 11, "Table II: pending configurations of scenario (a); scenario (b) finalizes pending+1")
	tables := fs.String("tables", "1,2", "which tables to measure (1, 2 or 1,2)")
	msgMax := fs.String("message-limit", strconv.Itoa(aresrpc.MaxMsgSize),
		"bound on one gRPC message; a CoARES value over it (less 1MiB of overhead, per server: whole for ABD, a 1/k element for EC) is n/a. Lower it only to test the n/a cells")
	store := fs.String("store", "runs", "run store directory (figures go to bench/, server data to bench/tables-<start>.data while it runs)")
	asJSON := fs.Bool("json", false, "print the figures as JSON on stdout (the progress lines and tables go to stderr)")
	if code, done := parseBenchFlags(fs, args, stdout); done {
		return code
	}
	szI, errI := parseSizes(*sizesI)
	szII, errII := parseSizes(*sizesII)
	limit, errL := parseSize(*msgMax)
	doI, doII := false, false
	for _, t := range strings.Split(*tables, ",") {
		switch strings.TrimSpace(t) {
		case "1":
			doI = true
		case "2":
			doII = true
		default:
			return usageError(stdout, fmt.Sprintf("--tables %q: want 1, 2 or 1,2", *tables))
		}
	}
	if *k == 0 {
		*k = max(1, *servers/2)
		if *servers == 11 {
			*k = 6
		}
	}
	switch {
	case *servers < 1:
		return usageError(stdout, fmt.Sprintf("--servers %d: want at least 1", *servers))
	case *servers < 2 && doI:
		return usageError(stdout, "--servers: Table I's EC needs at least 2")
	case *k < 1 || *k >= *servers && (doI || *dapII == "ec"):
		return usageError(stdout, fmt.Sprintf("--k %d: want 1 ≤ k < servers (%d)", *k, *servers))
	case *delta < 1:
		return usageError(stdout, fmt.Sprintf("--delta %d: want at least 1", *delta))
	case *reads < 1:
		return usageError(stdout, fmt.Sprintf("--reads %d: want at least 1", *reads))
	case errI != nil:
		return usageError(stdout, "--sizes: "+errI.Error())
	case errII != nil:
		return usageError(stdout, "--t2-sizes: "+errII.Error())
	case errL != nil:
		return usageError(stdout, "--message-limit: "+errL.Error())
	case *dapII != "abd" && *dapII != "ec":
		return usageError(stdout, fmt.Sprintf("--t2-dap %q: want abd or ec", *dapII))
	case *pending < 1:
		return usageError(stdout, fmt.Sprintf("--pending %d: want at least 1", *pending))
	case *store == "":
		return usageError(stdout, "--store: empty")
	}
	out := stdout
	if *asJSON {
		out = stderr
	}
	start := time.Now()
	dataDir := filepath.Join(*store, BenchDir, "tables-"+start.UTC().Format("20060102T150405")+".data")
	b := &tablesBench{
		out: out, log: log, dataDir: dataDir,
		servers: *servers, k: *k, delta: *delta, reads: *reads, limit: limit,
		dapII: ares.DAP(*dapII), pending: *pending,
	}
	file := tablesFile{Suite: "tables", Start: start, Args: append([]string{"torture", "bench", "tables"}, args...),
		Setup: tablesSetup{Servers: *servers, K: *k, Delta: *delta, Reads: *reads, SizesI: szI, SizesII: szII,
			DAPII: *dapII, Pending: *pending, MessageMax: limit,
			BlockMin: fragment.DefaultMin, BlockAvg: fragment.DefaultAverage, BlockMax: fragment.DefaultMax,
			ServerKinds: "in-process ares.Server over aresrpc gRPC on loopback, bbolt store synced per commit"}}
	fmt.Fprintf(out, "bench tables: %d servers, EC k=%d, %d reads per cell; Table I sizes %s; Table II %s, %d pending, sizes %s\n",
		*servers, *k, *reads, sizesLine(szI), strings.ToUpper(*dapII), *pending, sizesLine(szII))
	code := 0
	var err error
	if doI {
		file.TableI, err = b.tableI(ctx, szI)
	}
	if err == nil && doII {
		file.TableII, err = b.tableII(ctx, szII)
	}
	if rmErr := os.RemoveAll(dataDir); rmErr != nil {
		log.Warn("remove bench data", "dir", dataDir, "err", rmErr)
	}
	file.Interrupted = ctx.Err() != nil
	if err != nil && !file.Interrupted {
		file.Error = err.Error()
		fmt.Fprintf(out, "failed: %v\n", err)
		code = 3
	}
	file.WallSeconds = time.Since(start).Seconds()
	file.Ratios = tablesRatios(file.TableI, file.TableII)
	file.Notes = tablesNotes(file.Setup, doI, doII)
	fmt.Fprintln(out)
	if file.Interrupted {
		fmt.Fprintln(out, "interrupted; the tables show what ran")
	}
	printTables(out, &file)
	path, code := saveBench(*store, "tables", start, &file, file.Interrupted, code, stderr)
	file.File = path
	fmt.Fprintf(out, "\nBENCH tables wall=%.0fs file=%s\n", file.WallSeconds, orDash(path))
	if *asJSON {
		return printBenchJSON(stdout, stderr, "tables", &file, code)
	}
	return code
}

// tablesBench holds what every scenario of the bench shares.
type tablesBench struct {
	out     io.Writer
	log     *slog.Logger
	dataDir string
	servers int
	k       int
	delta   int
	reads   int
	limit   int64
	dapII   ares.DAP
	pending int
	pools   int // pools started so far: each gets its own directory
}

// tablesPool is one fresh set of servers with a transport to them.
type tablesPool struct {
	nodes []ares.Node
	tr    *aresrpc.Transport
	stops []func()
	dir   string
}

func (b *tablesBench) startPool() (*tablesPool, error) {
	b.pools++
	p := &tablesPool{dir: filepath.Join(b.dataDir, fmt.Sprintf("pool-%d", b.pools))}
	for i := 1; i <= b.servers; i++ {
		id := fmt.Sprintf("s%d", i)
		st, err := store.Open(filepath.Join(p.dir, id))
		if err != nil {
			p.close()
			return nil, err
		}
		srv, err := ares.NewServer(st, ares.ServerOptions{ID: id, Delta: b.delta})
		if err != nil {
			st.Close()
			p.close()
			return nil, err
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			st.Close()
			p.close()
			return nil, err
		}
		gs := grpc.NewServer(aresrpc.ServerOptions()...)
		aresrpc.Register(gs, srv)
		go gs.Serve(lis) //nolint:errcheck // ends with Stop
		p.stops = append(p.stops, func() { gs.Stop(); st.Close() })
		p.nodes = append(p.nodes, ares.Node{ID: id, Addr: lis.Addr().String()})
	}
	p.tr = aresrpc.NewTransport()
	return p, nil
}

// close stops the servers and removes their data: a 64 MiB scenario with
// 13 configurations holds gigabytes that the next one should not compete
// with for the disk.
func (p *tablesPool) close() {
	if p.tr != nil {
		p.tr.Close()
	}
	for _, s := range p.stops {
		s()
	}
	os.RemoveAll(p.dir)
}

func (p *tablesPool) config(dap ares.DAP, k int) *ares.Config {
	c := &ares.Config{DAP: dap, Servers: append([]ares.Node(nil), p.nodes...)}
	if dap == ares.EC {
		c.K = k
	}
	return c
}

func (p *tablesPool) client(cfg *ares.Config, id string, pb, gc bool) (*ares.Client, error) {
	return ares.NewClient(ares.ClientOptions{ID: id, Initial: cfg, Transport: p.tr, PB: pb, GC: gc})
}

// payload is size bytes of seeded random data: random so that the
// content-defined chunker cuts blocks of its average size (zeros would be
// cut at the maximum), seeded so that runs compare.
func payload(size int64, seed uint64) []byte {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	v := make([]byte, size)
	_, _ = rand.NewChaCha8(key).Read(v)
	return v
}

// oversize says whether a CoARES value of size cannot go in one message:
// ABD sends every server the whole value, EC one of k coded elements. The
// 1 MiB spared is for the message's tags, key and framing.
func (b *tablesBench) oversize(dap ares.DAP, size int64) bool {
	per := size
	if dap == ares.EC {
		per = (size + int64(b.k) - 1) / int64(b.k)
	}
	return per > b.limit-(1<<20)
}

// column is one cell's timed read; it returns the bytes read.
type column struct {
	name string
	row  *tablesRow
	read func(ctx context.Context, i int) ([]byte, error)
	want []byte
	ds   []float64
}

// timeColumns runs reads rounds of every column in turn, so that a drift
// of the machine weighs on every column alike, and fills the cells.
func (b *tablesBench) timeColumns(ctx context.Context, label string, cols []*column) {
	// One untimed read of the first column: the first read after the
	// writes pays for cold connections and pages, which is no column's
	// own cost (one only, since a 256 MiB read takes seconds).
	if len(cols) > 0 {
		_, _ = cols[0].read(ctx, -1)
	}
	for i := 0; i < b.reads; i++ {
		for _, c := range cols {
			cell := c.row.Cells[c.name]
			if cell.Error != "" || ctx.Err() != nil {
				continue
			}
			t0 := time.Now()
			v, err := c.read(ctx, i)
			d := time.Since(t0)
			if err == nil && !bytes.Equal(v, c.want) {
				err = fmt.Errorf("read %d bytes, not the %d written", len(v), len(c.want))
			}
			if err != nil && ctx.Err() != nil {
				continue // interrupted: no figure, and no fault of the column
			}
			if err != nil {
				cell.Error = err.Error()
				fmt.Fprintf(b.out, "  %s %s %s: %v\n", label, bench.SizeName(c.row.Size), c.name, err)
				continue
			}
			c.ds = append(c.ds, float64(d.Microseconds())/1000)
		}
	}
	for _, c := range cols {
		cell := c.row.Cells[c.name]
		fillCell(cell, c.ds)
		if cell.Error == "" && ctx.Err() == nil {
			fmt.Fprintf(b.out, "  %s %-8s %-16s median %s  p90 %s\n", label, bench.SizeName(c.row.Size), c.name, bench.MSText(cell.Median), bench.MSText(cell.P90))
		}
	}
}

func fillCell(c *tablesCell, ds []float64) {
	c.Reads = len(ds)
	if len(ds) == 0 {
		return
	}
	s := append([]float64(nil), ds...)
	sort.Float64s(s)
	c.Median, _ = median(s)
	c.P90 = s[int(math.Ceil(0.9*float64(len(s))))-1]
	c.Min, c.Max = s[0], s[len(s)-1]
}

func newRow(scenario string, size int64, cols []string) *tablesRow {
	r := &tablesRow{Scenario: scenario, Size: size, Cells: map[string]*tablesCell{}}
	for _, c := range cols {
		r.Cells[c] = &tablesCell{}
	}
	return r
}

// failRow marks every cell of r that has no figure yet with err.
func failRow(r *tablesRow, names []string, err error) {
	for _, n := range names {
		if c := r.Cells[n]; c.Reads == 0 && c.NA == "" && c.Error == "" {
			c.Error = err.Error()
		}
	}
}

// tableI measures Table I: per DAP a fresh pool holding, per size, one
// CoARES object and one CoARESF file, read by one client without PB and
// one with (there are no reconfigurations: PB saves the read-config
// rounds of every read, of every block for a file).
func (b *tablesBench) tableI(ctx context.Context, sizes []int64) ([]*tablesRow, error) {
	rows := make([]*tablesRow, len(sizes))
	for i, s := range sizes {
		rows[i] = newRow("", s, tableICols)
	}
	for _, dap := range []ares.DAP{ares.ABD, ares.EC} {
		if ctx.Err() != nil {
			break
		}
		label := "table I " + strings.ToUpper(string(dap))
		if err := b.tableIDAP(ctx, label, dap, rows); err != nil {
			return rows, fmt.Errorf("%s: %w", label, err)
		}
	}
	return rows, nil
}

func (b *tablesBench) tableIDAP(ctx context.Context, label string, dap ares.DAP, rows []*tablesRow) error {
	p, err := b.startPool()
	if err != nil {
		return err
	}
	defer p.close()
	cfg := p.config(dap, b.k)
	w, err := p.client(cfg, "writer", false, false)
	if err != nil {
		return err
	}
	off, err := p.client(cfg, "reader", false, false)
	if err != nil {
		return err
	}
	on, err := p.client(cfg, "reader-pb", true, false)
	if err != nil {
		return err
	}
	d := strings.ToUpper(string(dap))
	co, coPB, f, fPB := "CoARES-"+d, "CoARES-"+d+" PB", "CoARESF-"+d, "CoARESF-"+d+" PB"
	for _, row := range rows {
		if ctx.Err() != nil {
			return nil
		}
		size := row.Size
		content := payload(size, uint64(size))
		coKey, fKey := fmt.Sprintf("coares-%d", size), fmt.Sprintf("coaresf-%d", size)
		var cols []*column
		t0 := time.Now()
		if b.oversize(dap, size) {
			row.Cells[co].NA, row.Cells[coPB].NA = naOneMessage, naOneMessage
		} else if res, err := w.CoverWrite(ctx, coKey, ares.Tag{}, content); err != nil || res.Covered {
			if err == nil {
				err = errors.New("covered: the object was not new")
			}
			failRow(row, []string{co, coPB}, fmt.Errorf("write: %w", err))
		} else {
			read := func(c *ares.Client) func(context.Context, int) ([]byte, error) {
				return func(ctx context.Context, _ int) ([]byte, error) {
					v, _, err := c.ReadInfo(ctx, coKey)
					return v, err
				}
			}
			cols = append(cols, &column{name: co, row: row, read: read(off), want: content},
				&column{name: coPB, row: row, read: read(on), want: content})
		}
		if _, err := fragment.Put(ctx, w, fKey, content, fragment.Options{}); err != nil {
			failRow(row, []string{f, fPB}, fmt.Errorf("put: %w", err))
		} else {
			get := func(c *ares.Client) func(context.Context, int) ([]byte, error) {
				return func(ctx context.Context, _ int) ([]byte, error) {
					v, _, err := fragment.Get(ctx, c, fKey, fragment.Options{})
					return v, err
				}
			}
			cols = append(cols, &column{name: f, row: row, read: get(off), want: content},
				&column{name: fPB, row: row, read: get(on), want: content})
		}
		fmt.Fprintf(b.out, "  %s %s written in %s\n", label, bench.SizeName(size), time.Since(t0).Round(time.Millisecond))
		b.timeColumns(ctx, label, cols)
	}
	return nil
}

// tableII measures Table II. Each scenario is built twice on fresh pools,
// alike but for the reconfigurer's GC: the plain and PB columns read the
// build without GC, the PB&GC column the build with it (GC acts when a
// reconfiguration finalizes, so it is the reconfigurer's option). One
// build holds every size and every kind of object, so the sizes share the
// reconfigurations' cost.
func (b *tablesBench) tableII(ctx context.Context, sizes []int64) ([]*tablesRow, error) {
	var rows []*tablesRow
	byKey := map[string]*tablesRow{}
	for _, sc := range []string{scenarioPending, scenarioFinalized} {
		for _, s := range sizes {
			r := newRow(sc, s, tableIICols)
			rows = append(rows, r)
			byKey[fmt.Sprintf("%s/%d", sc, s)] = r
		}
	}
	for _, sc := range []string{scenarioPending, scenarioFinalized} {
		for _, gc := range []bool{false, true} {
			if ctx.Err() != nil {
				return rows, nil
			}
			label := fmt.Sprintf("table II %s", scenarioName(sc, b.pending))
			if gc {
				label += " (GC)"
			}
			var mine []*tablesRow
			for _, s := range sizes {
				mine = append(mine, byKey[fmt.Sprintf("%s/%d", sc, s)])
			}
			if err := b.tableIIBuild(ctx, label, sc, gc, mine); err != nil {
				return rows, fmt.Errorf("%s: %w", label, err)
			}
		}
	}
	return rows, nil
}

func (b *tablesBench) tableIIBuild(ctx context.Context, label, scenario string, gc bool, rows []*tablesRow) error {
	p, err := b.startPool()
	if err != nil {
		return err
	}
	defer p.close()
	cfg := p.config(b.dapII, b.k)
	w, err := p.client(cfg, "writer", false, false)
	if err != nil {
		return err
	}
	contents := map[int64][]byte{}
	t0 := time.Now()
	for _, row := range rows {
		size := row.Size
		content := payload(size, uint64(size))
		contents[size] = content
		if err := w.Write(ctx, fmt.Sprintf("ares-%d", size), content); err != nil {
			return fmt.Errorf("write ARES %s: %w", bench.SizeName(size), err)
		}
		if res, err := w.CoverWrite(ctx, fmt.Sprintf("coares-%d", size), ares.Tag{}, content); err != nil || res.Covered {
			return fmt.Errorf("write CoARES %s: %v (covered %v)", bench.SizeName(size), err, res.Covered)
		}
		if _, err := fragment.Put(ctx, w, fmt.Sprintf("coaresf-%d", size), content, fragment.Options{}); err != nil {
			return fmt.Errorf("put CoARES_F %s: %w", bench.SizeName(size), err)
		}
	}
	fmt.Fprintf(b.out, "  %s: objects written in %s\n", label, time.Since(t0).Round(time.Millisecond))
	// One long-lived reconfigurer, as one reconfiguring client of the
	// slides; its GC (when on) points the configurations it still knows
	// at each newly finalized one.
	t0 = time.Now()
	rc, err := p.client(cfg, "reconfigurer", false, gc)
	if err != nil {
		return err
	}
	target := cfg.Clone()
	finalized := b.pending + 1
	if scenario == scenarioPending {
		for i := 0; i < b.pending; i++ {
			if _, err := rc.InstallPending(ctx, target); err != nil {
				return fmt.Errorf("install pending %d: %w", i+1, err)
			}
		}
		finalized = 1
	}
	for i := 0; i < finalized; i++ {
		if _, err := rc.Reconfig(ctx, target); err != nil {
			return fmt.Errorf("reconfig %d: %w", i+1, err)
		}
	}
	fmt.Fprintf(b.out, "  %s: reconfigurations done in %s\n", label, time.Since(t0).Round(time.Millisecond))

	type variant struct {
		suffix string
		pb     bool
	}
	variants := []variant{{"", false}, {" PB", true}}
	if gc {
		variants = []variant{{" PB&GC", true}}
	}
	var cols []*column
	for _, row := range rows {
		size := row.Size
		for _, v := range variants {
			pb := v.pb
			// A fresh reader per read, that knows only the initial
			// configuration: every read traverses the sequence.
			fresh := func(i int) (*ares.Client, error) {
				return p.client(cfg, fmt.Sprintf("reader-%d", i), pb, gc)
			}
			readKey := func(key string) func(context.Context, int) ([]byte, error) {
				return func(ctx context.Context, i int) ([]byte, error) {
					c, err := fresh(i)
					if err != nil {
						return nil, err
					}
					v, _, err := c.ReadInfo(ctx, key)
					return v, err
				}
			}
			cols = append(cols,
				&column{name: "ARES" + v.suffix, row: row, read: readKey(fmt.Sprintf("ares-%d", size)), want: contents[size]},
				&column{name: "CoARES" + v.suffix, row: row, read: readKey(fmt.Sprintf("coares-%d", size)), want: contents[size]},
				&column{name: "CoARES_F" + v.suffix, row: row, want: contents[size],
					read: func(ctx context.Context, i int) ([]byte, error) {
						c, err := fresh(i)
						if err != nil {
							return nil, err
						}
						v, _, err := fragment.Get(ctx, c, fmt.Sprintf("coaresf-%d", size), fragment.Options{})
						return v, err
					}})
		}
	}
	b.timeColumns(ctx, label, cols)
	return nil
}

// tablesRatios are the ratios the slides discuss, measured and published.
func tablesRatios(t1, t2 []*tablesRow) []tablesRatio {
	var rs []tablesRatio
	med := func(r *tablesRow, col string) (float64, bool) {
		c := r.Cells[col]
		return c.Median, c != nil && c.Reads > 0 && c.Median > 0
	}
	ratio := func(r *tablesRow, a, b string) *float64 {
		x, ok1 := med(r, a)
		y, ok2 := med(r, b)
		if !ok1 || !ok2 {
			return nil
		}
		q := x / y
		return &q
	}
	pub := func(a, b float64) *float64 { q := a / b; return &q }
	for _, r := range t1 {
		s, has := slidesTableI[r.Size]
		for i, d := range []string{"ABD", "EC"} {
			co, f := "CoARES-"+d, "CoARESF-"+d
			x := tablesRatio{Table: "I", Size: r.Size, Name: f + " PB / " + f, Measured: ratio(r, f+" PB", f)}
			if has {
				x.Slides = pub(s[2*i+1], s[2*i])
			}
			rs = append(rs,
				tablesRatio{Table: "I", Size: r.Size, Name: co + " PB / " + co, Measured: ratio(r, co+" PB", co)},
				x,
				tablesRatio{Table: "I", Size: r.Size, Name: f + " / " + co, Measured: ratio(r, f, co)})
		}
	}
	for _, r := range t2 {
		s, has := slidesTableII[r.Scenario][r.Size]
		for g, base := range []string{"ARES", "CoARES", "CoARES_F"} {
			for j, suffix := range []string{" PB", " PB&GC"} {
				x := tablesRatio{Table: "II", Scenario: r.Scenario, Size: r.Size, Name: base + suffix + " / " + base,
					Measured: ratio(r, base+suffix, base)}
				if has {
					x.Slides = pub(s[3*g+1+j], s[3*g])
				}
				rs = append(rs, x)
			}
		}
	}
	return rs
}

// tablesNotes say what differs from the slides' testbed, and how the
// tables were made.
func tablesNotes(s tablesSetup, doI, doII bool) []string {
	notes := []string{
		fmt.Sprintf("servers: %d %s, each on its own bbolt file on this machine's one disk; the client runs in the same process. "+
			"Same server code as ares-server, without spawning %d processes.", s.Servers, s.ServerKinds, s.Servers),
		"testbed: the slides ran 11 machines on an emulated WAN (100 Mb/s links); this is loopback on one 2-core machine: no WAN round trip " +
			"(a round costs ~0.1-1 ms here, tens of ms there) and no 100 Mb/s bottleneck (a 64 MiB value takes ~5 s at 100 Mb/s, tens of ms here). " +
			"Latency here is CPU (protobuf, Reed-Solomon, every server sharing two cores) and fsync; compare ratios, not absolute figures, " +
			"and expect smaller ratios where the slides' gain came from saved WAN round trips or transfers.",
	}
	if doI {
		notes = append(notes,
			fmt.Sprintf("Table I: one configuration (ABD, then EC k=%d of %d, each on a fresh pool), no reconfiguration; a read client without PB and one with it. "+
				"CoARES = one coverable object (CoverWrite, read with ReadInfo); CoARESF = fragment.Put/Get with blocks of %s/%s/%s (min/avg/max). "+
				"CoARES values over one gRPC message (%s less 1 MiB, per server: whole value for ABD, 1/k for EC) are n/a. "+
				"The slides' W:5/R:5 (concurrent writers and readers) are not reproduced: reads here run alone.",
				s.K, s.Servers, bench.SizeName(int64(s.BlockMin)), bench.SizeName(int64(s.BlockAvg)), bench.SizeName(int64(s.BlockMax)), bench.SizeName(s.MessageMax)))
	}
	if doII {
		notes = append(notes,
			fmt.Sprintf("Table II: %s configurations on all %d servers (each configuration the same servers, a new index). "+
				"(a) %d InstallPending (reconfigurations that stop after the state transfer, unfinalized) followed by one finalized Reconfig; "+
				"(b) %d finalized Reconfigs; one long-lived reconfigurer. Each scenario is built twice, alike but for the reconfigurer's GC: "+
				"ARES and PB columns read the build without GC, PB&GC the build with it. Every read is by a fresh client that knows only configuration 0; "+
				"a CoARES_F read is one fresh client for the whole file (its first block finds the last configuration).",
				strings.ToUpper(s.DAPII), s.Servers, s.Pending, s.Pending+1),
			"Table II: a CoARES read is the same ReadInfo as an ARES read (coverability changes the write, not the read): CoARES and ARES differ by noise only. "+
				"The slides' W:1/R:10/G:4 (one writer, ten readers, GC every 4) are not reproduced: reads run alone and GC runs at every finalization.")
	}
	notes = append(notes, "cells: median of the timed reads (p90, min and max in the JSON).")
	return notes
}

func printTables(w io.Writer, f *tablesFile) {
	if len(f.TableI) > 0 {
		fmt.Fprintf(w, "TABLE I: READ latency by object size, S:%d, EC k=%d (median of %d reads)\n", f.Setup.Servers, f.Setup.K, f.Setup.Reads)
		printTable(w, f.TableI, tableICols, 0)
		fmt.Fprintln(w)
	}
	if len(f.TableII) > 0 {
		fmt.Fprintf(w, "TABLE II: READ latency after reconfigurations, S:%d, %s (median of %d reads, fresh reader each)\n",
			f.Setup.Servers, strings.ToUpper(f.Setup.DAPII), f.Setup.Reads)
		printTable(w, f.TableII, tableIICols, f.Setup.Pending)
		fmt.Fprintln(w)
	}
	if len(f.Ratios) > 0 {
		fmt.Fprintln(w, "RATIOS (measured; slides where they have the row)")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "table\trow\tratio\tmeasured\tslides\t\n")
		for _, r := range f.Ratios {
			row := bench.SizeName(r.Size)
			if r.Scenario != "" {
				row = scenarioName(r.Scenario, f.Setup.Pending) + " " + row
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", r.Table, row, r.Name, ratioText(r.Measured), ratioText(r.Slides))
		}
		tw.Flush()
		fmt.Fprintln(w, "slides' headline figures: PB cuts CoARESF reads by 44% (ABD) and 60% (EC) at 256 MB (ratios 0.56, 0.40); "+
			"11 pending: ARES PB 3.1x ARES, PB&GC 0.67x at 1 MB; 12 finalized: PB&GC 0.75x at 1 MB")
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "NOTES")
	for _, n := range f.Notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
}

// printTable prints rows in the slides' layout; pending > 0 heads each
// scenario's rows with its name (Table II).
func printTable(w io.Writer, rows []*tablesRow, cols []string, pending int) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "size\t")
	for _, c := range cols {
		fmt.Fprintf(tw, "%s\t", c)
	}
	fmt.Fprintln(tw)
	last := ""
	for _, r := range rows {
		if pending > 0 && r.Scenario != last {
			last = r.Scenario
			fmt.Fprintf(tw, "%s\t", scenarioLong(r.Scenario, pending))
			for range cols {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprintln(tw)
		}
		fmt.Fprintf(tw, "%s\t", bench.SizeName(r.Size))
		for _, c := range cols {
			fmt.Fprintf(tw, "%s\t", cellText(r.Cells[c]))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func scenarioName(sc string, pending int) string {
	if sc == scenarioPending {
		return fmt.Sprintf("%d-pending", pending)
	}
	return fmt.Sprintf("%d-finalized", pending+1)
}

func scenarioLong(sc string, pending int) string {
	if sc == scenarioPending {
		return fmt.Sprintf("%d pending & 1 finalized:", pending)
	}
	return fmt.Sprintf("%d finalized:", pending+1)
}

func cellText(c *tablesCell) string {
	switch {
	case c == nil:
		return "-"
	case c.NA != "":
		return c.NA
	case c.Error != "":
		return "error"
	case c.Reads == 0:
		return "-"
	}
	return bench.MSText(c.Median)
}

func ratioText(q *float64) string {
	if q == nil {
		return "-"
	}
	return fmt.Sprintf("%.2fx", *q)
}

// parseSizes reads a comma-separated list of sizes.
func parseSizes(s string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		n, err := parseSize(f)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("no sizes")
	}
	return out, nil
}

// parseSize reads a byte count with an optional binary unit: 65536, 64KiB,
// 64K, 1MiB, 1M, 1GiB.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(strings.ToLower(t), u.suffix) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.m
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("size %q: want a positive byte count, e.g. 65536, 64KiB, 1MiB", s)
	}
	return n * mult, nil
}

func sizesLine(ns []int64) string {
	var s []string
	for _, n := range ns {
		s = append(s, bench.SizeName(n))
	}
	return strings.Join(s, ",")
}
