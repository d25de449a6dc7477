package history

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"reflect"
	"strings"
	"testing"
)

// checkDecode compares the fast decoder with encoding/json on one line:
// whatever the decoder accepts must be what json.Unmarshal gives.
func checkDecode(t *testing.T, line []byte) (fast bool) {
	t.Helper()
	var got Op
	if !newDecoder().decode(line, &got) {
		return false
	}
	var want Op
	if err := json.Unmarshal(line, &want); err != nil {
		t.Fatalf("decoder accepted %q, encoding/json: %v", line, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("line %q: decoder %+v, encoding/json %+v", line, got, want)
	}
	return true
}

func randomOp(rng *rand.Rand) Op {
	pick := func(xs ...string) string { return xs[rng.Intn(len(xs))] }
	op := Op{
		Type:    Type(pick("invoke", "ok", "fail", "info", "nemesis", "end")),
		Process: rng.Intn(100) - 5,
		F:       pick("read", "write", "cover", "cas", "start", "stop"),
		Key:     pick("", "k1", "ключ", "a b"),
		Value:   pick("", "v1", "v\"2", "v\\3", "tab\there", "é", "\u2028", "<&>"),
		Time:    rng.Int63() >> uint(rng.Intn(63)),
		Error:   pick("", "timeout", "context deadline exceeded"),
		Fault:   pick("", "partition"),
		ID:      rng.Intn(3),
	}
	if rng.Intn(2) == 0 {
		op.Tag = &Tag{TS: rng.Uint64() >> uint(rng.Intn(64)), WID: pick("", "c1-ab", "w")}
	}
	if rng.Intn(2) == 0 {
		c := rng.Uint64() >> uint(rng.Intn(64))
		op.Config = &c
	}
	op.Configs, op.Elements = rng.Intn(3), rng.Intn(3)
	op.Behind, op.Final = rng.Intn(2) == 0, rng.Intn(2) == 0
	if rng.Intn(2) == 0 {
		op.Base = &Tag{TS: rng.Uint64() >> uint(rng.Intn(64)), WID: pick("", "c2-cd")}
	}
	op.BaseValue, op.Covered = pick("", "b1", "b\"2"), rng.Intn(2) == 0
	return op
}

func TestDecoderAgreesWithEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	fast := 0
	for i := 0; i < 5000; i++ {
		op := randomOp(rng)
		b, err := json.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(`\`)) && !checkDecode(t, b) {
			t.Fatalf("decoder refused the writer's line %s", b)
		}
		if checkDecode(t, b) {
			fast++
		}
		// Mutations: whatever the decoder accepts must still agree.
		s := string(b)
		for _, m := range []string{
			strings.ReplaceAll(s, ",", " , "),
			strings.ReplaceAll(s, ":", ": "),
			strings.Replace(s, `"type"`, `"Type"`, 1),
			strings.Replace(s, `{`, `{"type":"ok",`, 1),
			strings.Replace(s, `}`, `,"extra":1}`, 1),
			strings.Replace(s, `"time":`, `"time":-`, 1),
			strings.Replace(s, `"time":`, `"time":0`, 1),
			strings.Replace(s, `"process":`, `"process":1e`, 1),
			strings.Replace(s, `"tag":{`, `"tag":null,"x":{`, 1),
			strings.Replace(s, `"config":`, `"config":-`, 1),
			strings.Replace(s, `"behind":true`, `"behind":tru`, 1),
			s + " x",
			s[:len(s)-1],
			"\xff" + s,
			strings.Replace(s, `"v1"`, "\"v\xff\"", 1),
		} {
			checkDecode(t, []byte(m))
		}
	}
	for _, line := range []string{
		`{}`, ` { } `, `{"time":9223372036854775807}`, `{"time":9223372036854775808}`,
		`{"time":-9223372036854775808}`, `{"config":18446744073709551615}`, `{"config":18446744073709551616}`,
		`{"tag":{"ts":1}}`, `{"tag":{"ts":1,"ts":2,"wid":"a"}}`, `{"tag":{"wid":"a","ts":3}}`, `{"process":1.0}`,
	} {
		checkDecode(t, []byte(line))
	}
	t.Logf("%d of 5000 writer lines on the fast path", fast)
}

// FuzzDecoder: go test -fuzz FuzzDecoder ./history
func FuzzDecoder(f *testing.F) {
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < 20; i++ {
		b, _ := json.Marshal(randomOp(rng))
		f.Add(b)
	}
	f.Add([]byte(`{"type":"ok","tag":{"ts":1,"wid":"x"},"config":3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecode(t, b)
	})
}

func TestReadFallsBackOnEscapes(t *testing.T) {
	in := `{"type":"invoke","process":1,"f":"write","key":"x","value":"a\"b","time":1}` + "\n" +
		`{"type":"ok","process":1,"f":"write","key":"x","value":"a\"b","time":2,"tag":{"ts":1,"wid":"c"}}` + "\n"
	ops, err := Read(strings.NewReader(in))
	if err != nil || len(ops) != 2 || ops[1].Value != `a"b` || ops[1].Tag == nil || ops[1].Tag.TS != 1 {
		t.Fatalf("ops %+v, err %v", ops, err)
	}
	_, err = Read(strings.NewReader(in + `{"type":"ok","time":1e3}` + "\n"))
	if pe, ok := err.(*ParseError); !ok || pe.Line != 3 {
		t.Fatalf("err %v", err)
	}
}
