package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestBenchTablesTiny runs the bench at its smallest and checks the shape
// of what it prints and writes: every cell of both tables has a figure or
// is n/a, never empty. No timing is asserted.
func TestBenchTablesTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	store := t.TempDir()
	var stdout, stderr bytes.Buffer
	// A 1200 KiB message limit makes the 256 KiB CoARES cells n/a with
	// k=1 (3 servers), so the n/a path runs too.
	code := Main([]string{"bench", "tables", "--servers", "3", "--sizes", "64KiB,2MiB", "--t2-sizes", "64KiB",
		"--reads", "2", "--pending", "2", "--message-limit", "1200KiB", "--json", "--store", store}, &stdout, &stderr)
	t.Logf("stderr:\n%s", stderr.String())
	if code != 0 {
		t.Fatalf("exit %d; stdout:\n%s", code, stdout.String())
	}
	for _, want := range []string{"TABLE I:", "TABLE II:", "2 pending & 1 finalized:", "3 finalized:", "RATIOS", "NOTES",
		"CoARESF-EC PB", "CoARES_F PB&GC", naOneMessage, "BENCH tables"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("tables (stderr) lack %q", want)
		}
	}
	var f tablesFile
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("stdout is not the figures' JSON: %v\n%s", err, stdout.String())
	}
	if f.Suite != "tables" || f.Error != "" || f.Interrupted {
		t.Fatalf("suite %q error %q interrupted %v", f.Suite, f.Error, f.Interrupted)
	}
	check := func(table string, rows []*tablesRow, cols []string, wantRows int) {
		if len(rows) != wantRows {
			t.Fatalf("table %s: %d rows, want %d", table, len(rows), wantRows)
		}
		for _, r := range rows {
			for _, c := range cols {
				cell := r.Cells[c]
				switch {
				case cell == nil:
					t.Errorf("table %s %s %d: no cell %s", table, r.Scenario, r.Size, c)
				case cell.Error != "":
					t.Errorf("table %s %s %d %s: %s", table, r.Scenario, r.Size, c, cell.Error)
				case cell.NA != "":
					if cell.Reads != 0 {
						t.Errorf("table %s %d %s: n/a with %d reads", table, r.Size, c, cell.Reads)
					}
				case cell.Reads != 2 || cell.Median <= 0 || cell.P90 < cell.Median:
					t.Errorf("table %s %s %d %s: %+v", table, r.Scenario, r.Size, c, cell)
				}
			}
		}
	}
	check("I", f.TableI, tableICols, 2)
	check("II", f.TableII, tableIICols, 2)
	// Only the 2 MiB CoARES cells exceed the lowered message limit.
	for _, r := range f.TableI {
		for _, c := range []string{"CoARES-ABD", "CoARES-EC PB"} {
			if na := r.Cells[c].NA != ""; na != (r.Size == 2<<20) {
				t.Errorf("table I %d %s: n/a %v", r.Size, c, na)
			}
		}
	}
	if len(f.Ratios) == 0 || len(f.Notes) == 0 {
		t.Errorf("ratios %d notes %d", len(f.Ratios), len(f.Notes))
	}
	if _, err := os.Stat(f.File); err != nil {
		t.Errorf("figures file: %v", err)
	}
	// The servers' data is removed at the end.
	if m, _ := os.ReadDir(store + "/bench"); len(m) != 1 {
		var names []string
		for _, e := range m {
			names = append(names, e.Name())
		}
		t.Errorf("bench dir holds %v, want only the figures", names)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"65536": 65536, "64KiB": 64 << 10, "64k": 64 << 10, "1MiB": 1 << 20, "256M": 256 << 20, "1GiB": 1 << 30} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "0", "-1MiB", "1TiB"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q): no error", bad)
		}
	}
}
