package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestValidateCheckTimeout: a check time limit of 0 or less would make
// every verdict unknown at once; Validate refuses it.
func TestValidateCheckTimeout(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		o := DefaultOptions()
		o.CheckTimeout = Duration(d)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--check-timeout") {
			t.Errorf("CheckTimeout %v: Validate = %v; want an error naming --check-timeout", d, err)
		}
	}
	o := DefaultOptions()
	o.CheckTimeout = Duration(time.Millisecond)
	if err := o.Validate(); err != nil {
		t.Errorf("CheckTimeout 1ms: %v", err)
	}
}

// TestValidateTLS: --tls resolves auto by backend (on for docker, off for
// local and sim; empty, as in a test.json from before the option, is
// auto), refuses on for the sim (no network) and any other value.
func TestValidateTLS(t *testing.T) {
	for _, c := range []struct {
		backend, tls, want, err string
	}{
		{"local", "", TLSOff, ""},
		{"local", TLSAuto, TLSOff, ""},
		{"local", TLSOn, TLSOn, ""},
		{"local", TLSOff, TLSOff, ""},
		{"docker", TLSAuto, TLSOn, ""},
		{"docker", "", TLSOn, ""},
		{"docker", TLSOff, TLSOff, ""},
		{"docker", TLSOn, TLSOn, ""},
		{"sim", TLSAuto, TLSOff, ""},
		{"sim", TLSOff, TLSOff, ""},
		{"sim", TLSOn, "", "--tls on: the sim backend has no network"},
		{"local", "yes", "", `--tls "yes": want auto, on or off`},
		{"docker", "ON", "", `--tls "ON"`},
		{"local", "true", "", `--tls "true"`},
	} {
		o := DefaultOptions()
		o.Backend, o.TLS = c.backend, c.tls
		err := o.Validate()
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("--backend %s --tls %q: Validate = %v; want an error with %q", c.backend, c.tls, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("--backend %s --tls %q: %v", c.backend, c.tls, err)
		case c.err == "" && o.TLS != c.want:
			t.Errorf("--backend %s --tls %q resolved to %q, want %q", c.backend, c.tls, o.TLS, c.want)
		}
	}
}

// TestReadTestInfoWithoutTLS: a test.json written before --tls existed
// reads as auto, which the rerun's Validate resolves by its backend.
func TestReadTestInfoWithoutTLS(t *testing.T) {
	for backend, want := range map[string]string{"local": TLSOff, "docker": TLSOn} {
		dir := t.TempDir()
		old := `{"options": {"backend": "` + backend + `", "servers": 3, "pool": 3, "clients": 2, "keys": 2, "dap": "abd",
			"workload": "register", "read_ratio": 0.5, "value_size": 8, "dist": "uniform", "nemesis": "none",
			"time": "1s", "op_timeout": "1s", "check_timeout": "5s", "nemesis_interval": "1s", "store": "runs", "name": "old"}, "seed": 7}`
		if err := os.WriteFile(filepath.Join(dir, TestFile), []byte(old), 0o644); err != nil {
			t.Fatal(err)
		}
		ti, err := ReadTestInfo(dir)
		if err != nil {
			t.Fatal(err)
		}
		if ti.Options.TLS != TLSAuto {
			t.Errorf("%s: an old test.json reads --tls %q, want auto", backend, ti.Options.TLS)
		}
		if err := ti.Options.Validate(); err != nil {
			t.Fatalf("%s: %v", backend, err)
		}
		if ti.Options.TLS != want {
			t.Errorf("%s: an old test.json resolves --tls to %q, want %q", backend, ti.Options.TLS, want)
		}
	}
}

// TestValidateThrifty: --thrifty resolves auto by backend (on for local
// and docker, off for the sim, whose seeds keep their schedules); empty
// (Options built by hand) is off; other values are refused.
func TestValidateThrifty(t *testing.T) {
	for _, c := range []struct {
		backend, thrifty, want, err string
	}{
		{"local", ThriftyAuto, ThriftyOn, ""},
		{"docker", ThriftyAuto, ThriftyOn, ""},
		{"docker", ThriftyOn, ThriftyOn, ""},
		{"sim", ThriftyAuto, ThriftyOff, ""},
		{"sim", ThriftyOn, ThriftyOn, ""},
		{"local", ThriftyOff, ThriftyOff, ""},
		{"local", "", ThriftyOff, ""},
		{"local", "yes", "", `--thrifty "yes": want auto, on or off`},
	} {
		o := DefaultOptions()
		o.Backend, o.Thrifty = c.backend, c.thrifty
		err := o.Validate()
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("--backend %s --thrifty %q: Validate = %v; want an error with %q", c.backend, c.thrifty, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("--backend %s --thrifty %q: %v", c.backend, c.thrifty, err)
		case c.err == "" && o.Thrifty != c.want:
			t.Errorf("--backend %s --thrifty %q resolved to %q, want %q", c.backend, c.thrifty, o.Thrifty, c.want)
		}
	}
}

// TestReadTestInfoThrifty: a test.json written before --thrifty existed
// reads as off (those runs asked every server), one written since keeps
// what the run resolved.
func TestReadTestInfoThrifty(t *testing.T) {
	for field, want := range map[string]string{"": ThriftyOff, `"thrifty": "on", `: ThriftyOn} {
		dir := t.TempDir()
		js := `{"options": {"backend": "local", ` + field + `"servers": 3, "pool": 3, "clients": 2, "keys": 2, "dap": "abd",
			"workload": "register", "read_ratio": 0.5, "value_size": 8, "dist": "uniform", "nemesis": "none",
			"time": "1s", "op_timeout": "1s", "check_timeout": "5s", "nemesis_interval": "1s", "store": "runs", "name": "old"}, "seed": 7}`
		if err := os.WriteFile(filepath.Join(dir, TestFile), []byte(js), 0o644); err != nil {
			t.Fatal(err)
		}
		ti, err := ReadTestInfo(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := ti.Options.Validate(); err != nil {
			t.Fatal(err)
		}
		if ti.Options.Thrifty != want {
			t.Errorf("test.json with %q: --thrifty %q, want %q", field, ti.Options.Thrifty, want)
		}
	}
}
