package harness

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ares-torture/torture/history"
	"github.com/ares-torture/torture/workloads"
)

func TestRunDirNaming(t *testing.T) {
	store := t.TempDir()
	start := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	if got, want := RunDirName(start, 42), "20250304T050607-42"; got != want {
		t.Fatalf("RunDirName = %q, want %q", got, want)
	}
	d1, err := CreateRunDir(store, "abd5-register-all", start, 42)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(store, "abd5-register-all", "20250304T050607-42"); d1 != want {
		t.Fatalf("run dir %q, want %q", d1, want)
	}
	// The same second and seed again (a quick rerun) gets its own dir.
	d2, err := CreateRunDir(store, "abd5-register-all", start, 42)
	if err != nil {
		t.Fatal(err)
	}
	if d2 == d1 {
		t.Fatalf("second run reused %s", d1)
	}
	latest, err := filepath.EvalSymlinks(filepath.Join(store, LatestLink))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := filepath.EvalSymlinks(d2); latest != want {
		t.Fatalf("latest -> %s, want %s", latest, want)
	}
	if _, err := CreateRunDir(store, "../escape", start, 1); err == nil {
		t.Fatal("a name with a path separator was accepted")
	}
}

func TestDefaultName(t *testing.T) {
	o := DefaultOptions()
	o.Nemesis, o.ServerBug = "kill,partition", "volatile"
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.Name != "abd5-register-kill+partition-bug-volatile" {
		t.Fatalf("name %q", o.Name)
	}
	o = DefaultOptions()
	o.DAP, o.Name = "ec", ""
	_ = o.Validate()
	if o.Name != "ec5-3-register-none" {
		t.Fatalf("name %q", o.Name)
	}
	o = DefaultOptions()
	o.Name = "a/b"
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--name") {
		t.Fatalf("bad name accepted: %v", err)
	}
}

func TestValidateNamesFlags(t *testing.T) {
	o := DefaultOptions()
	o.Servers, o.Pool, o.DAP, o.ECK, o.ServerBug = 3, 2, "ec", 3, "nope"
	err := o.Validate()
	if err == nil {
		t.Fatal("bad options accepted")
	}
	for _, f := range []string{"--pool", "--ec-k", "--server-bug"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error does not name %s: %v", f, err)
		}
	}
}

func TestTestInfoRoundTrip(t *testing.T) {
	dir := t.TempDir()
	o := DefaultOptions()
	o.Nemesis, o.Seed, o.Time, o.ServerBug, o.PB, o.Rate = "all", -7, Duration(1500*time.Millisecond), "short-quorum", false, 12.5
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	in := &TestInfo{Options: o, Seed: o.Seed, Start: time.Now().UTC().Truncate(time.Second), RunDir: dir,
		Versions: map[string]string{"go": "go1"}, Args: []string{"torture", "run"}}
	if err := WriteTestInfo(dir, in); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, TestFile))
	if !bytes.Contains(b, []byte(`"time": "1.5s"`)) {
		t.Errorf("durations are not human-readable in test.json:\n%s", b)
	}
	out, err := ReadTestInfo(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n in %+v\nout %+v", in, out)
	}
}

func TestReadValue(t *testing.T) {
	if v := ReadValue(nil); v != "" {
		t.Fatalf("initial value read as %q", v)
	}
	if v := ReadValue(workloads.Encode("c1-5", 64)); v != "c1-5" {
		t.Fatalf("value read as %q", v)
	}
	b := workloads.Encode("c1-5", 64)
	b[40] ^= 1
	if v := ReadValue(b); !strings.HasPrefix(v, "corrupt:") {
		t.Fatalf("corrupt payload read as %q", v)
	}
}

func TestOutcomeLine(t *testing.T) {
	o := &Outcome{Verdict: "valid", RunDir: "runs/x/y", Counts: Counts{OK: 3, Info: 1}}
	if got, want := o.Line(), "VALID run=runs/x/y ops=4 ok=3 fail=0 info=1"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
	o = &Outcome{Verdict: "error", Reason: "boom"}
	if got := o.Line(); !strings.HasPrefix(got, "ERROR run=- ") || !strings.Contains(got, `reason="boom"`) {
		t.Fatalf("%q", got)
	}
}

// TestRunInMemory runs the whole flow (clients, nemesis, heal, final
// reads, check, run store) over the in-memory network.
func TestRunInMemory(t *testing.T) {
	o := DefaultOptions()
	o.Backend, o.Store, o.Time, o.NemesisInterval = "mem", t.TempDir(), Duration(2*time.Second), Duration(300*time.Millisecond)
	o.Nemesis, o.Seed, o.Settle, o.CheckTimeout = "all", 1, Duration(100*time.Millisecond), Duration(30*time.Second)
	o.Clients, o.OpTimeout = 4, Duration(500*time.Millisecond)
	var out bytes.Buffer
	res := Run(context.Background(), o, Env{Out: &out})
	t.Logf("%s", out.String())
	if res.Code != ExitValid {
		t.Fatalf("exit %d: %s", res.Code, res.Line())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "VALID run="+res.RunDir) {
		t.Fatalf("last line %q", last)
	}
	for _, f := range []string{TestFile, HistoryFile, ResultsFile, ReportFile, LogFile} {
		if _, err := os.Stat(filepath.Join(res.RunDir, f)); err != nil {
			t.Error(err)
		}
	}
	ops, err := history.ReadFile(filepath.Join(res.RunDir, HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	var nem, final int
	last := int64(-1)
	for _, op := range ops {
		if op.Time < last {
			t.Fatalf("time goes back at %+v", op)
		}
		last = op.Time
		if op.Type == history.Nemesis {
			nem++
		}
		if op.Process >= o.Clients*1000 {
			t.Fatalf("process id %d", op.Process)
		}
	}
	for _, op := range ops {
		if op.Final {
			final++
		}
	}
	if nem == 0 || final != 2*o.Keys {
		t.Fatalf("%d nemesis lines, %d final read lines", nem, final)
	}
	if end := ops[len(ops)-1]; end.Type != history.End {
		t.Fatalf("last line %+v, want the end line", end)
	}
	// A re-check gives the same verdict, into its own folder.
	before, err := os.ReadFile(filepath.Join(res.RunDir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	recheck := filepath.Join(res.RunDir, ChecksDir, "again")
	again := CheckRun(context.Background(), CheckInput{RunDir: res.RunDir, Out: recheck, Timeout: time.Minute}, &out, nil)
	if again.Code != res.Code {
		t.Fatalf("re-check exit %d, run %d", again.Code, res.Code)
	}
	if _, err := os.Stat(filepath.Join(recheck, ResultsFile)); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(filepath.Join(res.RunDir, ResultsFile)); !bytes.Equal(before, after) {
		t.Fatal("the re-check changed the run's own results.json")
	}
}

func TestRunFindsClientBugInMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("several seconds")
	}
	for seed := int64(1); seed <= 3; seed++ {
		o := DefaultOptions()
		o.Backend, o.Store, o.Time, o.Seed = "mem", t.TempDir(), Duration(2*time.Second), seed
		o.ServerBug, o.Keys, o.Clients, o.Nemesis = "short-quorum", 1, 6, "partition,kill"
		o.NemesisInterval, o.Settle = Duration(300*time.Millisecond), 0
		res := Run(context.Background(), o, Env{Out: &bytes.Buffer{}})
		if res.Code == ExitInvalid {
			return
		}
		t.Logf("seed %d: %s", seed, res.Line())
	}
	t.Fatal("short-quorum not found in 3 seeds")
}

func TestStoreHandler(t *testing.T) {
	store := t.TempDir()
	dir, err := CreateRunDir(store, "abd5-register-all", time.Now(), 9)
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	_ = o.Validate()
	if err := WriteTestInfo(dir, &TestInfo{Options: o, Seed: 9}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ResultsFile), []byte(`{"verdict":"invalid","reason":"stale read"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(StoreHandler(store))
	defer srv.Close()
	get := func(path string) string {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		return string(b)
	}
	idx := get("/")
	for _, want := range []string{"abd5-register-all/" + filepath.Base(dir), "invalid", "stale read"} {
		if !strings.Contains(idx, want) {
			t.Errorf("index lacks %q:\n%s", want, idx)
		}
	}
	if !strings.Contains(get("/latest/test.json"), `"seed": 9`) {
		t.Error("latest/test.json not served")
	}
}
