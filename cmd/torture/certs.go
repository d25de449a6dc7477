package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/pki"
)

// hostList is --host: repeatable, each a comma list.
type hostList []string

func (h *hostList) String() string { return strings.Join(*h, ",") }

func (h *hostList) Set(s string) error {
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			*h = append(*h, x)
		}
	}
	return nil
}

// cmdCerts makes a certificate authority and node certificates for a
// cluster the harness does not start itself (docker-compose.yml): a run
// makes its own in RUN_DIR/tls/.
func cmdCerts(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("torture certs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "folder to write into (created)")
	var hosts hostList
	fs.Var(&hosts, "host", "an IP address or DNS name every certificate is valid for besides its NAME (repeatable, or a comma list), e.g. 127.0.0.1,localhost for servers reached on this host")
	force := fs.Bool("force", false, "replace a CA already in --out: removes every *.pem there first (nodes then need the new files and a restart)")
	usage := func() {
		fmt.Fprintf(fs.Output(), "usage: torture certs --out DIR [--host HOST,...] [--force] NAME...\n\n"+
			"Makes a new certificate authority and, for each NAME, a certificate valid as server and as\n"+
			"client for NAME and every --host: DIR/ca.pem, DIR/NAME.pem and DIR/NAME-key.pem (0600).\n"+
			"The CA's key is never written, so nothing else can be signed by it later: to add a node,\n"+
			"make them all again (--force) and restart every node. Give each node its own NAME:\n\n"+
			"  torture certs --out .compose/tls --host 127.0.0.1,localhost s1 s2 s3 s4 s5 client\n"+
			"  ares-server --id s1 ... --tls-cert .compose/tls/s1.pem --tls-key .compose/tls/s1-key.pem --tls-ca .compose/tls/ca.pem\n"+
			"  ares --servers ... --tls-cert .compose/tls/client.pem --tls-key .compose/tls/client-key.pem --tls-ca .compose/tls/ca.pem get k\n\n"+
			"Servers then refuse clients without a certificate of this CA. `make compose-up` runs it.\n"+
			"Exit code: 0 written, 3 a bad command line or a file that could not be written.\n\nflags:\n")
		fs.PrintDefaults()
	}
	// The help once, on stdout, for --help only: flag would print it to
	// stderr first, and on every error.
	fs.Usage = func() {}
	if err := parseInterspersed(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			usage()
			return 0
		}
		return certsError(stderr, err.Error())
	}
	if *out == "" || fs.NArg() == 0 {
		return certsError(stderr, "want --out DIR and at least one NAME (torture certs --help)")
	}
	seen := map[string]bool{}
	for _, name := range fs.Args() {
		if name == "ca" || name == "" || filepath.Base(name) != name || strings.HasPrefix(name, ".") {
			return certsError(stderr, fmt.Sprintf("bad NAME %q: a file name, not ca", name))
		}
		if seen[name] {
			return certsError(stderr, fmt.Sprintf("NAME %q given twice", name))
		}
		seen[name] = true
	}
	caFile := filepath.Join(*out, "ca.pem")
	if _, err := os.Stat(caFile); err == nil {
		if !*force {
			return certsError(stderr, fmt.Sprintf("%s exists: the nodes it signed would not trust a new CA; --force replaces every *.pem in %s", caFile, *out))
		}
		old, _ := filepath.Glob(filepath.Join(*out, "*.pem"))
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				return certsError(stderr, err.Error())
			}
		}
	}
	ca, err := pki.NewCA("ares-torture CA " + filepath.Base(*out))
	if err != nil {
		return certsError(stderr, err.Error())
	}
	for _, name := range fs.Args() {
		f, err := ca.WriteFiles(*out, name, hosts...)
		if err != nil {
			return certsError(stderr, err.Error())
		}
		fmt.Fprintf(stdout, "%s: %s %s\n", name, f.Cert, f.Key)
	}
	fmt.Fprintf(stdout, "CA: %s (its key is not kept)\n", caFile)
	return 0
}

func certsError(stderr io.Writer, msg string) int {
	fmt.Fprintln(stderr, "torture certs:", msg)
	return harness.ExitHarness
}
