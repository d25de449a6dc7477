package main

// Mutual TLS of the CLI: a handshake the servers refuse (or that this
// client refuses) fails the command at once with a line that says so,
// instead of the ARES client resending until --timeout and then reporting
// gRPC's "error reading server preface: EOF".

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/ares-torture/torture/ares"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// handshakeError is a connection to a server that failed at its set-up in
// a way retrying will not mend: a refused or untrusted certificate, TLS on
// one side only.
type handshakeError struct {
	server, addr string
	what         string // what happened, in words
	detail       string // gRPC's description of it
	hint         string // what to check; may be empty
}

func (e *handshakeError) Error() string {
	s := fmt.Sprintf("TLS: server %s (%s) %s (%s)", e.server, e.addr, e.what, e.detail)
	if e.hint != "" {
		s += ": " + e.hint
	}
	return s
}

// classifyHandshake tells a handshake failure from other call errors.
// gRPC reports a connection that failed at its set-up as Unavailable with
// the cause in the message; tls says whether this client speaks TLS.
func classifyHandshake(err error, tls bool) (what, detail, hint string, ok bool) {
	// Not status.FromError: for a wrapped status it returns the whole
	// err.Error() as the message.
	var gs interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &gs) || gs.GRPCStatus().Code() != codes.Unavailable {
		return "", "", "", false
	}
	msg := gs.GRPCStatus().Message()
	if q, ok := strings.CutPrefix(msg, "connection error: desc = "); ok {
		if u, err := strconv.Unquote(q); err == nil {
			msg = u
		}
	}
	msg = strings.TrimPrefix(msg, "transport: authentication handshake failed: ")
	has := func(s string) bool { return strings.Contains(msg, s) }
	if !tls {
		// A TLS server reads the plaintext HTTP/2 preface as a bad TLS
		// record and hangs up before answering anything.
		if has("error reading server preface") || has("connection closed before server preface received") {
			return "closed the plaintext connection before answering", msg,
				"it probably requires mutual TLS: give --tls-cert, --tls-key and --tls-ca", true
		}
		return "", "", "", false
	}
	switch {
	case has("first record does not look like a TLS handshake"):
		return "does not speak TLS", msg, "it was started without --tls-cert, --tls-key and --tls-ca", true
	case has("x509:") || has("failed to verify certificate"):
		return "is not trusted", msg, "its certificate must be signed by --tls-ca and name the address dialled", true
	case has("remote error: tls: certificate required") || has("remote error: tls: unknown certificate authority") ||
		has("remote error: tls: bad certificate"):
		return "refused this client's certificate", msg, "--tls-cert must be signed by the servers' CA", true
	case has("remote error: tls:") || has("tls:"):
		return "failed the TLS handshake", msg, "", true
	}
	return "", "", "", false
}

// handshakeWatch is the CLI's transport: it passes calls on and ends the
// operation (cancel, with a *handshakeError as the cause) once handshake
// failures leave no majority of configuration 0, which every operation
// needs first. Fewer failures are reported as warnings after a success.
type handshakeWatch struct {
	ares.Transport
	tls    bool
	n      int             // servers of configuration 0
	in0    map[string]bool // their ids
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	refused map[string]*handshakeError // by server id
}

func newHandshakeWatch(tr ares.Transport, initial *ares.Config, tls bool, cancel context.CancelCauseFunc) *handshakeWatch {
	w := &handshakeWatch{Transport: tr, tls: tls, n: initial.N(), in0: map[string]bool{}, cancel: cancel, refused: map[string]*handshakeError{}}
	for _, s := range initial.Servers {
		w.in0[s.ID] = true
	}
	return w
}

// Call implements ares.Transport.
func (w *handshakeWatch) Call(ctx context.Context, to ares.Node, req *ares.Request) (*ares.Response, error) {
	resp, err := w.Transport.Call(ctx, to, req)
	if err == nil {
		w.mu.Lock()
		delete(w.refused, to.ID) // it answers after all
		w.mu.Unlock()
		return resp, nil
	}
	what, detail, hint, ok := classifyHandshake(err, w.tls)
	if !ok {
		return resp, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, seen := w.refused[to.ID]; !seen {
		w.refused[to.ID] = &handshakeError{server: to.ID, addr: to.Addr, what: what, detail: detail, hint: hint}
	}
	var ids []string
	for id := range w.refused {
		if w.in0[id] {
			ids = append(ids, id)
		}
	}
	// A majority of n is n/2+1: with n-n/2 refusals none is left.
	if len(ids) >= w.n-w.n/2 {
		sort.Strings(ids)
		first := *w.refused[ids[0]]
		if len(ids) > 1 {
			first.hint = strings.TrimPrefix(first.hint+fmt.Sprintf("; %d of the %d servers refused: %s, no majority is left", len(ids), w.n, strings.Join(ids, ", ")), "; ")
		}
		w.cancel(&first)
	}
	return resp, err
}

// warn prints the handshake failures of an operation that succeeded
// without those servers.
func (w *handshakeWatch) warn(stderr io.Writer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids := make([]string, 0, len(w.refused))
	for id := range w.refused {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Fprintf(stderr, "ares: warning: %v\n", w.refused[id])
	}
}
