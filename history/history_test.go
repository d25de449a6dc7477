package history

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	h, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Op{
		{Type: Invoke, Process: 0, F: FWrite, Key: "k1", Value: "v1", Time: 10},
		{Type: Nemesis, F: FStart, Fault: "partition", ID: 1, Value: "[s1] [s2 s3]", Time: 15},
		{Type: Ok, Process: 0, F: FWrite, Key: "k1", Value: "v1", Time: 20},
		{Type: Invoke, Process: 1, F: FRead, Key: "k1", Time: 30},
		{Type: Info, Process: 1, F: FRead, Key: "k1", Time: 40, Error: "timeout"},
		{Type: Nemesis, F: FStop, Fault: "partition", ID: 1, Time: 50},
	}
	for _, op := range want {
		if err := h.Append(op); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestConcurrentAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	h, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for p := 0; p < 8; p++ {
		wg.Go(func() {
			for i := 0; i < 100; i++ {
				if err := h.Append(Op{Type: Invoke, Process: p, F: FRead, Key: "k", Time: int64(i)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil || len(got) != 800 {
		t.Fatalf("%d lines, err %v", len(got), err)
	}
}

func TestReadRejectsMalformedLine(t *testing.T) {
	cases := []struct {
		name string
		line string
		want string
	}{
		{"not json", `{"type":"ok",`, "line 3"},
		{"unknown type", `{"type":"done","process":1,"f":"read","time":5}`, "unknown type"},
		{"missing type", `{"process":1,"f":"read","time":5}`, "missing type"},
		{"unknown f", `{"type":"invoke","process":1,"f":"swap","time":5}`, "unknown f"},
		{"nemesis f", `{"type":"nemesis","f":"read","time":5}`, "nemesis line"},
		{"negative time", `{"type":"invoke","process":1,"f":"read","time":-5}`, "negative time"},
	}
	head := `{"type":"invoke","process":0,"f":"write","key":"k","value":"a","time":1}
{"type":"ok","process":0,"f":"write","key":"k","value":"a","time":2}
`
	tail := `
{"type":"invoke","process":0,"f":"read","key":"k","time":9}
`
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ops, err := Read(strings.NewReader(head + c.line + tail))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err %v, want a *ParseError", err)
			}
			if pe.Line != 3 {
				t.Fatalf("line %d, want 3", pe.Line)
			}
			if !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), strings.TrimPrefix(c.want, "line 3")) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
			// The prefix stays checkable.
			if len(ops) != 2 || ops[1].Type != Ok || ops[1].Value != "a" {
				t.Fatalf("prefix %+v", ops)
			}
		})
	}
}

func TestReadTruncatedLastLine(t *testing.T) {
	// A run killed mid-write leaves half a line without its newline.
	in := `{"type":"invoke","process":0,"f":"write","key":"k","value":"a","time":1}
{"type":"ok","process":0,"f":"wr`
	ops, err := Read(strings.NewReader(in))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 2 {
		t.Fatalf("err %v", err)
	}
	if len(ops) != 1 {
		t.Fatalf("prefix %+v", ops)
	}
}

func TestReadSkipsBlankLinesButCountsThem(t *testing.T) {
	in := "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\",\"key\":\"k\",\"time\":1}\n\nnot json\n"
	ops, err := Read(strings.NewReader(in))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 3 || len(ops) != 1 {
		t.Fatalf("ops %+v, err %v", ops, err)
	}
}

func TestReadFileMissing(t *testing.T) {
	_, err := ReadFile(filepath.Join(t.TempDir(), "nope.jsonl"))
	var pe *ParseError
	if err == nil || errors.As(err, &pe) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err %v", err)
	}
}

func TestIsClient(t *testing.T) {
	if (&Op{Type: Nemesis}).IsClient() || !(&Op{Type: Invoke}).IsClient() {
		t.Fatal("IsClient")
	}
}
