package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ares-torture/torture/harness"
)

// cmdServe is `torture serve`: the run store over HTTP (harness.StoreServer).
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("torture serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	store := fs.String("store", "runs", "run store directory")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (beyond loopback, anyone who reaches it reads every run)")
	allow := fs.String("allow-host", "", "further names the Host header may carry, comma-separated: name (any port) or name:port (a reverse proxy's, the machine's DNS name)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: torture serve [--store DIR] [--addr HOST:PORT] [--allow-host NAMES]\n\n"+
			"Browse the run store: runs newest first with their verdicts, a page per run\n"+
			"(options, counts, every file, the rerun command, a zip of the run).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return usageError(stdout, err.Error())
	}
	if fs.NArg() > 0 {
		return usageError(stdout, "serve takes no arguments")
	}
	if st, err := os.Stat(*store); err != nil || !st.IsDir() {
		return usageError(stdout, fmt.Sprintf("--store %s: not a directory", *store))
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "torture serve: %v\n", err)
		return harness.ExitHarness
	}
	bound := ln.Addr().String()
	var hosts []string
	for _, h := range strings.Split(*allow, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	// --addr myhost:8080 listens on myhost's address; a browser sends
	// Host: myhost:8080, so that name is the server's as well.
	if host, _, err := net.SplitHostPort(*addr); err == nil && host != "" && net.ParseIP(host) == nil {
		_, port, _ := net.SplitHostPort(bound)
		hosts = append(hosts, net.JoinHostPort(host, port))
	}
	h, err := harness.NewStoreServer(harness.ServeConfig{Store: *store, Addr: bound, Hosts: hosts})
	if err != nil {
		ln.Close()
		fmt.Fprintf(stderr, "torture serve: %v\n", err)
		return harness.ExitHarness
	}
	defer h.Close()
	if !harness.IsLoopbackAddr(bound) {
		fmt.Fprintf(stderr, "torture serve: warning: listening on %s, beyond loopback: anyone who can reach it can read every run "+
			"(histories, logs, options); use --addr 127.0.0.1:PORT and an ssh tunnel to keep it private\n", bound)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "serving %s at http://%s/ (Ctrl-C to stop)\n", *store, bound)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		fmt.Fprintf(stderr, "torture serve: %v\n", err)
		return harness.ExitHarness
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return 0
	}
}
