package aresrpc

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/pki"
	"google.golang.org/grpc"
)

// TestTLS: an ARES server speaking the run's mutual TLS answers a client
// with the run's certificate, and refuses at the handshake one without a
// certificate, one speaking plaintext and one with another CA's; a client
// that does not trust the server's CA refuses it too. None of the refused
// requests reaches the handler, and each is refused at once (gRPC fails
// fast while the connection is down), not at the call's deadline.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA("run")
	if err != nil {
		t.Fatal(err)
	}
	serverFiles, err := ca.WriteFiles(dir, "s1", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	clientFiles, err := ca.WriteFiles(dir, "client")
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("another run")
	if err != nil {
		t.Fatal(err)
	}
	strangerFiles, err := other.WriteFiles(t.TempDir(), "client")
	if err != nil {
		t.Fatal(err)
	}

	scfg, err := pki.ServerConfig(serverFiles)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(append(ServerOptions(), ServerTLS(scfg))...)
	h := &echo{from: "s1"}
	Register(gs, h)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	node := ares.Node{ID: "s1", Addr: lis.Addr().String()}

	clientConfig := func(f pki.Files) *tls.Config {
		t.Helper()
		cfg, err := pki.ClientConfig(f, "")
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	call := func(opts ...Option) error {
		tr := newTransport(t, opts...)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		_, err := tr.Call(ctx, node, &ares.Request{Op: ares.OpQueryTag})
		if d := time.Since(start); err != nil && d > 5*time.Second {
			t.Errorf("refused after %v; want at once", d)
		}
		return err
	}

	if err := call(WithTLS(clientConfig(clientFiles))); err != nil {
		t.Fatalf("client with the run's certificate: %v", err)
	}
	served := func() int {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.n
	}
	if served() != 1 {
		t.Fatalf("handler saw %d requests; want 1", served())
	}

	noCert := clientConfig(clientFiles)
	noCert.Certificates = nil
	stranger := clientConfig(strangerFiles)
	stranger.RootCAs = clientConfig(clientFiles).RootCAs
	// Go's client sends no certificate the server's CA list does not
	// name; this one must reach the server's verification.
	stranger.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &stranger.Certificates[0], nil
	}
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"no certificate", []Option{WithTLS(noCert)}},
		{"plaintext", nil},
		{"another CA's certificate", []Option{WithTLS(stranger)}},
		{"server of another CA", []Option{WithTLS(clientConfig(strangerFiles))}},
	} {
		err := call(tc.opts...)
		if err == nil {
			t.Errorf("%s: served", tc.name)
			continue
		}
		t.Logf("%s: %v", tc.name, err)
	}
	if served() != 1 {
		t.Errorf("handler saw %d requests; want only the first", served())
	}
}
