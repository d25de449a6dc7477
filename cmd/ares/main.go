// Command ares is a command-line client of an ARES II cluster: it writes and
// reads objects, coverable objects (CoARES) and fragmented files (CoARESF),
// moves the cluster to a new configuration, and shows the configuration
// sequence.
//
//	ares --servers ID=ADDR,... [--dap abd|ec] [--ec-k K] [--timeout 10s] [--pb] [--gc]
//	     [--tls-cert F --tls-key F --tls-ca F] COMMAND
//
//	put KEY VALUE | put KEY --file F     write (F may be - for stdin)
//	put --if-version TAG KEY VALUE       coverable write: prints the new version,
//	                                     or "covered by TAG" (exit 0 both ways)
//	get [--version] KEY [--out F]        read (to stdout by default); --version
//	                                     also prints "version TAG" to stderr
//	put-file KEY --file F                write a fragmented file (CoARESF)
//	get-file KEY [--out F]               read a fragmented file
//	reconfig --to ID=ADDR,... [--to-dap abd|ec] [--to-ec-k K]
//	configs                              print the configuration sequence
//
// Exit status: 0 done, 1 the operation failed (no quorum before the
// deadline, ...), 2 bad input (nothing was sent).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/ares/aresrpc"
	"github.com/ares-torture/torture/pki"
	"github.com/ares-torture/torture/tracing"
	"go.opentelemetry.io/otel/trace"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// MaxValue bounds the size of a value: it is held in memory whole, and
// every gRPC message must stay under aresrpc.MaxMsgSize.
const MaxValue = 192 << 20

const usage = `usage: ares --servers ID=ADDR,... [--dap abd|ec] [--ec-k K] [--timeout 10s] [--pb] [--gc]
            [--tls-cert F --tls-key F --tls-ca F] COMMAND

commands:
  put KEY VALUE | put KEY --file F   write a value (F may be - for stdin)
  put --if-version TAG KEY VALUE|--file F
                                     coverable write, only if TAG (3,w-1a2b or
                                     '<3,w-1a2b>'; 0: never written) is still the
                                     latest version; prints the new version, or
                                     "covered by TAG" with the latest one if not
                                     (exit 0 both ways: nothing failed)
  get KEY [--out F] [--version]      read a value (to stdout by default);
                                     --version also prints "version TAG", the
                                     version read, to stderr
  put-file KEY --file F [--chunk-min 64KiB] [--chunk-avg 256KiB] [--chunk-max 1MiB]
                                     write a fragmented file: only the blocks
                                     that changed; reports blocks and bytes
                                     written to stderr (exit 1 if another write
                                     changed the file at the same place meanwhile)
  get-file KEY [--out F]             read a fragmented file (to stdout by
                                     default); reports its blocks and size to
                                     stderr
  reconfig --to ID=ADDR,... [--to-dap abd|ec] [--to-ec-k K]
                                     move the cluster to a new configuration
  configs                            print the configuration sequence:
                                     index, servers, DAP, status per line

--servers defaults to $ARES_SERVERS; it is the initial configuration
(index 0), the same on every client. --tls-cert, --tls-key and --tls-ca
(all three) speak mutual TLS to servers started with them; a refused
handshake fails the command at once.
exit status: 0 done, 1 the operation failed, 2 bad input (nothing was sent)
`

// usageError is bad input: exit 2, nothing sent.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// opts are the flags of every command (global ones may also follow the
// command name).
type opts struct {
	servers, dap, id, logLevel string
	k                          int
	timeout                    time.Duration
	pb, gc, version            bool
	trace                      string // OTLP JSON file of the operation's spans
	tls                        pki.Files
	// put, get
	file, out string
	fileOpts  // put --if-version, get --version, put-file, get-file: files.go
	// reconfig
	to, toDAP string
	toK       int
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := runErr(args, stdin, stdout, stderr)
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	// One line: the errors of the client already name the servers that did
	// not answer.
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "ares: %s (see ares --help)\n", msg)
		return 2
	}
	fmt.Fprintf(stderr, "ares: %s\n", msg)
	return 1
}

func flagSet(o *opts, cmd string) *flag.FlagSet {
	fs := flag.NewFlagSet("ares "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&o.servers, "servers", os.Getenv("ARES_SERVERS"), "initial configuration: ID=HOST:PORT,...")
	fs.StringVar(&o.dap, "dap", "abd", "DAP of the initial configuration: abd or ec")
	fs.IntVar(&o.k, "ec-k", 3, "EC data shards k of the initial configuration (1 <= k < n)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "deadline of the whole operation")
	fs.BoolVar(&o.pb, "pb", false, "ARES II piggyback")
	fs.BoolVar(&o.gc, "gc", false, "ARES II garbage collection of old configurations")
	fs.StringVar(&o.id, "id", "ares-cli", "client id (writer ids add a random suffix)")
	fs.StringVar(&o.logLevel, "log-level", "warn", "protocol log level on stderr: debug, info, warn, error")
	if cmd != "get" { // get --version is the version read
		fs.BoolVar(&o.version, "version", false, "print the version and exit")
	}
	o.tls.AddFlags(fs)
	fs.StringVar(&o.trace, "trace", "", "write the operation's OpenTelemetry spans to this OTLP JSON file, and where its time went to stderr")
	switch cmd {
	case "put":
		fs.StringVar(&o.file, "file", "", "read the value from this file (- for stdin)")
		fileFlags(fs, o, cmd)
	case "get":
		fs.StringVar(&o.out, "out", "", "write the value to this file instead of stdout")
		fileFlags(fs, o, cmd)
	case "put-file", "get-file":
		fileFlags(fs, o, cmd)
	case "reconfig":
		fs.StringVar(&o.to, "to", "", "servers of the new configuration: ID=HOST:PORT,...")
		fs.StringVar(&o.toDAP, "to-dap", "", "DAP of the new configuration (default: --dap)")
		fs.IntVar(&o.toK, "to-ec-k", 0, "EC k of the new configuration (default: --ec-k)")
	}
	return fs
}

// parse parses flags and positional arguments in any order; "--" ends the
// flags (for values that start with a dash).
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func runErr(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var o opts
	// The command is the first argument after the global flags.
	global := flagSet(&o, "")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	if o.version {
		fmt.Fprintln(stdout, "ares", version)
		return nil
	}
	if global.NArg() == 0 {
		return usagef("no command given (put, get, put-file, get-file, reconfig, configs)")
	}
	cmd := global.Arg(0)
	switch cmd {
	case "put", "get", "put-file", "get-file", "reconfig", "configs":
	case "help":
		return flag.ErrHelp
	default:
		return usagef("unknown command %q (want put, get, put-file, get-file, reconfig or configs)", cmd)
	}
	// Parse again with the command's flags: globals may come after it too.
	o = opts{}
	pos, err := parse(flagSet(&o, cmd), args)
	if err != nil {
		return err
	}
	if o.version {
		fmt.Fprintln(stdout, "ares", version)
		return nil
	}
	pos = dropFirst(pos, cmd)

	initial, err := initialConfig(&o)
	if err != nil {
		return err
	}
	if o.timeout <= 0 {
		return usagef("--timeout must be positive, got %v", o.timeout)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return usagef("--log-level %q: want debug, info, warn or error", o.logLevel)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := o.tls.Validate(); err != nil {
		return usagef("%v", err)
	}
	topts := []aresrpc.Option{aresrpc.WithLogger(log)}
	if o.tls.Enabled() {
		cfg, err := pki.ClientConfig(o.tls, "")
		if err != nil {
			return usagef("%v", err)
		}
		topts = append(topts, aresrpc.WithTLS(cfg))
	}

	// Check the command's input fully before anything is sent.
	var do func(ctx context.Context, c *ares.Client) error
	switch cmd {
	case "put":
		key, value, err := putArgs(&o, pos, stdin)
		if err != nil {
			return err
		}
		if do, err = coverPut(&o, key, value, stdout); err != nil {
			return err
		}
		if do == nil {
			do = func(ctx context.Context, c *ares.Client) error {
				return c.Write(ctx, key, value)
			}
		}
	case "get":
		if len(pos) != 1 || pos[0] == "" {
			return usagef("get takes one non-empty KEY, got %d argument(s)", len(pos))
		}
		key := pos[0]
		do = func(ctx context.Context, c *ares.Client) error {
			v, info, err := c.ReadInfo(ctx, key)
			if err != nil {
				return err
			}
			if o.showTag {
				fmt.Fprintf(stderr, "version %s\n", info.Tag)
			}
			return writeValue(o.out, v, stdout)
		}
	case "put-file", "get-file":
		if do, err = fileCommand(cmd, &o, pos, stdin, stdout, stderr); err != nil {
			return err
		}
	case "reconfig":
		if len(pos) != 0 {
			return usagef("reconfig takes no arguments, got %q", pos[0])
		}
		target, err := targetConfig(&o, initial)
		if err != nil {
			return err
		}
		do = func(ctx context.Context, c *ares.Client) error {
			got, err := c.Reconfig(ctx, target)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "installed configuration %d: %s %s\n", got.ID, serverList(got.Servers), dapString(got))
			return nil
		}
	case "configs":
		if len(pos) != 0 {
			return usagef("configs takes no arguments, got %q", pos[0])
		}
		do = func(ctx context.Context, c *ares.Client) error {
			seq, err := c.Configs(ctx)
			if err != nil {
				return err
			}
			for _, e := range seq {
				fmt.Fprintf(stdout, "%d\t%s\t%s\t%s\n", e.Cfg.ID, serverList(e.Cfg.Servers), dapString(e.Cfg), statusString(e.Status))
			}
			return nil
		}
	}

	tr := aresrpc.NewTransport(topts...)
	defer tr.Close()
	var tracer trace.Tracer
	if o.trace != "" {
		// A fresh file: the spans of this one operation.
		if err := os.Remove(o.trace); err != nil && !os.IsNotExist(err) {
			return err
		}
		tp, err := tracing.New(context.Background(), tracing.Options{File: o.trace, Service: "ares " + cmd, Sync: true})
		if err != nil {
			return err
		}
		defer reportTrace(tp, o.trace, stderr)
		tracer = tp.Tracer()
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	ctx, cancelCause := context.WithCancelCause(ctx)
	defer cancelCause(nil)
	watch := newHandshakeWatch(tr, initial, o.tls.Enabled(), cancelCause)
	client, err := ares.NewClient(ares.ClientOptions{
		ID: o.id, Initial: initial, Transport: watch, PB: o.pb, GC: o.gc, Logger: log, Tracer: tracer,
	})
	if err != nil {
		return usagef("%v", err)
	}
	if err := do(ctx, client); err != nil {
		// The refused handshakes, not the cancellation they caused.
		var he *handshakeError
		if cause := context.Cause(ctx); errors.As(cause, &he) {
			return fmt.Errorf("%s: %w", cmd, cause)
		}
		return fmt.Errorf("%s: %w", cmd, err)
	}
	watch.warn(stderr)
	return nil
}

// reportTrace flushes the spans and prints the operation's span tree.
func reportTrace(tp *tracing.Provider, path string, stderr io.Writer) {
	if err := tp.Shutdown(context.Background()); err != nil {
		fmt.Fprintf(stderr, "ares: trace: %v\n", err)
		return
	}
	spans, err := tracing.ReadFiles(path)
	if err != nil {
		fmt.Fprintf(stderr, "ares: trace: %v\n", err)
		return
	}
	for _, o := range tracing.Summarize(spans) {
		fmt.Fprintf(stderr, "trace (%s):\n%s", path, o.Slowest)
	}
}

// dropFirst removes the first occurrence of s from pos.
func dropFirst(pos []string, s string) []string {
	for i, p := range pos {
		if p == s {
			return append(pos[:i:i], pos[i+1:]...)
		}
	}
	return pos
}

func initialConfig(o *opts) (*ares.Config, error) {
	if o.servers == "" {
		return nil, usagef("--servers (or $ARES_SERVERS) is required")
	}
	nodes, err := ares.ParseServers(o.servers)
	if err != nil {
		return nil, usagef("--servers: %v", err)
	}
	cfg, err := buildConfig(0, nodes, o.dap, o.k)
	if err != nil {
		return nil, usagef("initial configuration: %v", err)
	}
	return cfg, nil
}

// buildConfig makes a configuration; K is 0 for ABD so that the same
// configuration built by two clients compares equal.
func buildConfig(id uint64, nodes []ares.Node, dap string, k int) (*ares.Config, error) {
	cfg := &ares.Config{ID: id, Servers: nodes, DAP: ares.DAP(dap)}
	if cfg.DAP == ares.EC {
		cfg.K = k
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func targetConfig(o *opts, initial *ares.Config) (*ares.Config, error) {
	if o.to == "" {
		return nil, usagef("reconfig needs --to ID=HOST:PORT,...")
	}
	nodes, err := ares.ParseServers(o.to)
	if err != nil {
		return nil, usagef("--to: %v", err)
	}
	dap, k := o.toDAP, o.toK
	if dap == "" {
		dap = o.dap
	}
	if k == 0 {
		k = o.k
	}
	target, err := buildConfig(0, nodes, dap, k)
	if err != nil {
		return nil, usagef("new configuration: %v", err)
	}
	// A server is one id at one address in every configuration: the same
	// id elsewhere would be another server under a name clients trust.
	for _, n := range target.Servers {
		for _, m := range initial.Servers {
			if n.ID == m.ID && n.Addr != m.Addr {
				return nil, usagef("new configuration: server %s is at %s in the initial configuration, not %s", n.ID, m.Addr, n.Addr)
			}
			if n.Addr == m.Addr && n.ID != m.ID {
				return nil, usagef("new configuration: address %s belongs to server %s in the initial configuration, not %s", n.Addr, m.ID, n.ID)
			}
		}
	}
	return target, nil
}

func putArgs(o *opts, pos []string, stdin io.Reader) (string, []byte, error) {
	if len(pos) == 0 || pos[0] == "" {
		return "", nil, usagef("put needs a non-empty KEY")
	}
	key := pos[0]
	switch {
	case o.file != "" && len(pos) == 1:
		v, err := readValue(o.file, stdin)
		return key, v, err
	case o.file == "" && len(pos) == 2:
		if len(pos[1]) > MaxValue {
			return "", nil, usagef("value of %d bytes is over the limit of %d", len(pos[1]), MaxValue)
		}
		return key, []byte(pos[1]), nil
	case o.file != "":
		return "", nil, usagef("put takes KEY and --file, or KEY VALUE, not both")
	}
	return "", nil, usagef("put takes KEY VALUE or KEY --file F, got %d argument(s)", len(pos))
}

func readValue(name string, stdin io.Reader) ([]byte, error) {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, usagef("--file: %v", err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > MaxValue {
			return nil, usagef("--file %s: %d bytes is over the limit of %d", name, fi.Size(), MaxValue)
		}
		r = f
	}
	v, err := io.ReadAll(io.LimitReader(r, MaxValue+1))
	if err != nil {
		return nil, usagef("--file %s: %v", name, err)
	}
	if len(v) > MaxValue {
		return nil, usagef("--file %s: value is over the limit of %d bytes", name, MaxValue)
	}
	return v, nil
}

func writeValue(out string, v []byte, stdout io.Writer) error {
	if out == "" || out == "-" {
		if _, err := stdout.Write(v); err != nil {
			return fmt.Errorf("write value: %w", err)
		}
		return nil
	}
	if err := os.WriteFile(out, v, 0o644); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}

func serverList(ns []ares.Node) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = n.ID + "=" + n.Addr
	}
	return strings.Join(parts, ",")
}

func dapString(c *ares.Config) string {
	if c.DAP == ares.EC {
		return fmt.Sprintf("ec(n=%d,k=%d)", c.N(), c.K)
	}
	return string(c.DAP)
}

func statusString(s ares.Status) string {
	switch s {
	case ares.Finalized:
		return "finalized"
	case ares.Pending:
		return "pending"
	}
	return "none"
}
