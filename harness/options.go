package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ares-torture/torture/ares"
)

// Duration is a time.Duration that reads and writes as "5s" in flags and
// in test.json, so a person can read and edit a stored test.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String implements flag.Value.
func (d Duration) String() string { return time.Duration(d).String() }

// Set implements flag.Value.
func (d *Duration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bad duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "5s" or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		return d.Set(s)
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("bad duration %s: want \"5s\" or nanoseconds", b)
	}
	*d = Duration(n)
	return nil
}

// Options are every setting of a run. Stored whole in test.json, they are
// enough to run the same test again (with the same Seed).
type Options struct {
	Backend string `json:"backend"`
	// Servers of the pool form the initial configuration; Pool is how many
	// servers run (reconfigurations move within the pool).
	Servers int    `json:"servers"`
	Pool    int    `json:"pool"`
	Clients int    `json:"clients"`
	Keys    int    `json:"keys"`
	DAP     string `json:"dap"`
	ECK     int    `json:"ec_k"`
	// Workload, ReadRatio, ValueSize, Dist and Rate drive workloads.New.
	Workload  string  `json:"workload"`
	ReadRatio float64 `json:"read_ratio"`
	ValueSize int     `json:"value_size"`
	Dist      string  `json:"dist"`
	// Rate is the total ops/s over all clients; 0 is a closed loop.
	Rate float64 `json:"rate"`
	// Ops, when positive, bounds the operations the clients invoke in
	// all: each client stops after its share (client i of C gets Ops/C,
	// one more for the first Ops%C), so that the bound is the same in
	// every replay. The run still ends at Time.
	Ops int `json:"ops,omitempty"`
	// Reconfigurers is how many clients may reconfigure at once (the
	// reconfig fault then races up to that many reconfigurations).
	Reconfigurers   int      `json:"reconfigurers,omitempty"`
	Nemesis         string   `json:"nemesis"`
	NemesisInterval Duration `json:"nemesis_interval"`
	Time            Duration `json:"time"`
	OpTimeout       Duration `json:"op_timeout"`
	// Settle is the wait after healing every fault before the final reads.
	Settle       Duration `json:"settle"`
	CheckTimeout Duration `json:"check_timeout"`
	Seed         int64    `json:"seed"`
	Store        string   `json:"store"`
	// ServerBug names an ares.Bugs entry: server bugs go to every
	// ares-server, client bugs to every workload client (never to the
	// control client, which is part of the test apparatus).
	ServerBug string `json:"server_bug,omitempty"`
	Name      string `json:"name"`
	PB        bool   `json:"pb"`
	GC        bool   `json:"gc"`
	// Trace writes OpenTelemetry spans of every operation, phase and
	// request into RUN_DIR/traces/ (OTLP JSON) and the report's "where the
	// time goes"; OTLPEndpoint also sends them to a collector.
	Trace        bool   `json:"trace"`
	OTLPEndpoint string `json:"otlp_endpoint,omitempty"`
	// TLS is mutual TLS between the controller, clients, agents and
	// servers, with a certificate authority the run makes (RUN_DIR/tls/):
	// auto, on or off. Validate resolves auto (on for docker, off for
	// local and sim), so test.json records what the run did; a test.json
	// from before the option reads as auto.
	TLS string `json:"tls,omitempty"`
	// Thrifty: clients send the requests of reads and writes to a quorum
	// first, one more server each time one fails or the quorum is late
	// (ares.ClientOptions.Thrifty): auto, on or off. Validate resolves
	// auto (on for local and docker, off for sim; resolveThrifty says
	// why); a test.json from before the option reads as off, as those
	// runs were.
	Thrifty string `json:"thrifty,omitempty"`
	// ServerBin is the ares-server binary of the local backend. It is
	// recorded but a rerun looks the binary up again.
	ServerBin string `json:"server_bin,omitempty"`
}

// DefaultOptions are the defaults of DESIGN.md's command line.
func DefaultOptions() Options {
	return Options{
		Backend:         "local",
		Servers:         5,
		Pool:            7,
		Clients:         10,
		Keys:            8,
		DAP:             "abd",
		ECK:             3,
		Workload:        "register",
		ReadRatio:       0.5,
		ValueSize:       64,
		Dist:            "uniform",
		Nemesis:         "none",
		NemesisInterval: Duration(5 * time.Second),
		Time:            Duration(60 * time.Second),
		OpTimeout:       Duration(2 * time.Second),
		Settle:          Duration(2 * time.Second),
		CheckTimeout:    Duration(60 * time.Second),
		Store:           "runs",
		PB:              true,
		GC:              true,
		Trace:           true,
		TLS:             TLSAuto,
		Thrifty:         ThriftyAuto,
	}
}

// Validate checks the options a user can get wrong and fills the test name
// when it is empty. Errors name the flag.
func (o *Options) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	// Which backends exist depends on the build: LookupBackend says.
	if o.Backend == "" {
		bad("--backend: empty (want local, docker or sim)")
	}
	if o.Servers < 1 {
		bad("--servers %d: want at least 1", o.Servers)
	}
	if o.Pool < o.Servers {
		bad("--pool %d: must be at least --servers (%d)", o.Pool, o.Servers)
	}
	if o.Clients < 1 {
		bad("--clients %d: want at least 1", o.Clients)
	}
	if o.Keys < 1 {
		bad("--keys %d: want at least 1", o.Keys)
	}
	switch ares.DAP(o.DAP) {
	case ares.ABD:
	case ares.EC:
		if o.ECK < 1 || o.ECK >= o.Servers {
			bad("--ec-k %d: want 1 <= k < --servers (%d)", o.ECK, o.Servers)
		}
	default:
		bad("--dap %q: want abd or ec", o.DAP)
	}
	switch o.Workload {
	case "register", "large", "cover", "file":
	default:
		bad("--workload %q: want register, large, cover or file", o.Workload)
	}
	if o.ReadRatio < 0 || o.ReadRatio > 1 {
		bad("--read-ratio %v: want 0..1", o.ReadRatio)
	}
	if o.ValueSize < 0 {
		bad("--value-size %d: want >= 0 (0: the workload's default)", o.ValueSize)
	}
	if o.Dist != "uniform" && o.Dist != "zipf" {
		bad("--dist %q: want uniform or zipf", o.Dist)
	}
	if o.Rate < 0 {
		bad("--rate %v: want >= 0 (0 is a closed loop)", o.Rate)
	}
	if o.Reconfigurers < 0 {
		bad("--reconfigurers %d: want >= 1 (0: the default, 1)", o.Reconfigurers)
	}
	if o.Ops < 0 {
		bad("--ops %d: want >= 0 (0: no bound)", o.Ops)
	}
	if o.Time <= 0 {
		bad("--time %v: want > 0", o.Time)
	}
	if o.OpTimeout <= 0 {
		bad("--op-timeout %v: want > 0", o.OpTimeout)
	}
	if o.NemesisInterval <= 0 {
		bad("--nemesis-interval %v: want > 0", o.NemesisInterval)
	}
	if o.CheckTimeout <= 0 {
		bad("--check-timeout %v: want > 0", o.CheckTimeout)
	}
	if o.Settle < 0 {
		bad("--settle %v: want >= 0", o.Settle)
	}
	if o.Store == "" {
		bad("--store: empty")
	}
	if _, err := ares.ParseBug(o.ServerBug); err != nil {
		bad("--server-bug: %w", err)
	} else if ares.Bug(o.ServerBug) == ares.BugNoSync && o.Backend != "sim" {
		// Only a power loss loses what was written but not synced, and
		// only the sim backend cuts power (a kill keeps the page cache):
		// elsewhere the bug could never show, and its runs would pass.
		bad("--server-bug no-sync: only the sim backend can show it (--backend sim): a power loss is the one fault that loses unsynced writes")
	}
	if err := o.resolveTLS(); err != nil {
		bad("%w", err)
	}
	if err := o.resolveThrifty(); err != nil {
		bad("%w", err)
	}
	if o.Name == "" {
		o.Name = o.DefaultName()
	} else if s := sanitize(o.Name); s != o.Name {
		bad("--name %q: use letters, digits and . _ + - only (e.g. %q)", o.Name, s)
	}
	return errors.Join(errs...)
}

// DefaultName derives a test name from the options that shape a test, so
// that runs of one kind of test share a folder of the run store.
func (o *Options) DefaultName() string {
	dap := o.DAP
	if ares.DAP(o.DAP) == ares.EC {
		dap = fmt.Sprintf("ec%d-%d", o.Servers, o.ECK)
	} else {
		dap = fmt.Sprintf("%s%d", dap, o.Servers)
	}
	nem := strings.ReplaceAll(o.Nemesis, ",", "+")
	if nem == "" {
		nem = "none"
	}
	name := fmt.Sprintf("%s-%s-%s", dap, o.Workload, nem)
	if o.ServerBug != "" {
		name += "-bug-" + o.ServerBug
	}
	return sanitize(name)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._+-]+`)

// sanitize keeps a name usable as one path element.
func sanitize(s string) string {
	s = unsafeName.ReplaceAllString(s, "_")
	s = strings.Trim(s, ".")
	if s == "" {
		return "test"
	}
	return s
}
