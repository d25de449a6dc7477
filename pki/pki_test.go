package pki

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// handshake serves one TLS connection with server's config and dials it
// with client's; it returns the client's handshake error, or the server's.
func handshake(t *testing.T, server, client *tls.Config) error {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srvErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		err = c.(*tls.Conn).Handshake()
		if err == nil {
			_, err = c.Write([]byte("ok"))
		}
		srvErr <- err
	}()
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", ln.Addr().String(), client)
	if err == nil {
		// TLS 1.3: a refused client certificate shows at the first read.
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 2)
		_, err = io.ReadFull(c, buf)
		c.Close()
	}
	if serr := <-srvErr; err == nil {
		err = serr
	}
	return err
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA("test run")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.WriteFiles(dir, "s1", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := ca.WriteFiles(dir, "client")
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA("another run")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := other.WriteFiles(t.TempDir(), "client")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ServerConfig(srv)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := ClientConfig(cli, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(t, sc, cc); err != nil {
		t.Fatalf("a client of the run's CA was refused: %v", err)
	}

	// No certificate: the server refuses the handshake.
	noCert := cc.Clone()
	noCert.Certificates = nil
	if err := handshake(t, sc, noCert); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	// Another CA's certificate: refused too.
	sc2, err := ClientConfig(stranger, "")
	if err != nil {
		t.Fatal(err)
	}
	sc2.RootCAs = cc.RootCAs // it trusts the server; the server must not trust it
	if err := handshake(t, sc, sc2); err == nil {
		t.Fatal("a client signed by another CA was served")
	}
	// A server the client's CA did not sign is refused by the client.
	strangerSrv, err := ServerConfig(stranger)
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(t, strangerSrv, cc); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a server of another CA: err = %v, want a certificate error", err)
	}
	// serverName: a certificate issued for a name, not the dialed address.
	named, err := ca.WriteFiles(dir, "agent-1", "torture-agent")
	if err != nil {
		t.Fatal(err)
	}
	nc, err := ServerConfig(named)
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(t, nc, cc); err == nil {
		t.Fatal("a certificate without 127.0.0.1 passed for 127.0.0.1")
	}
	byName, err := ClientConfig(cli, "torture-agent")
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(t, nc, byName); err != nil {
		t.Fatalf("serverName torture-agent: %v", err)
	}
}

func TestFilesValidate(t *testing.T) {
	if err := (Files{}).Validate(); err != nil {
		t.Fatalf("no files (plaintext): %v", err)
	}
	if err := (Files{Cert: "a"}).Validate(); err == nil {
		t.Fatal("--tls-cert alone accepted")
	}
	if _, err := ServerConfig(Files{Cert: "/nonexistent/a.pem", Key: "/nonexistent/a-key.pem", CA: "/nonexistent/ca.pem"}); err == nil {
		t.Fatal("missing files accepted")
	}
	dir := t.TempDir()
	ca, _ := NewCA("x")
	f, err := ca.WriteFiles(dir, "n")
	if err != nil {
		t.Fatal(err)
	}
	f.CA = f.Key // a key is not a CA certificate
	if _, err := ClientConfig(f, ""); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("key as CA: err = %v", err)
	}
	if _, err := ca.WriteFiles(dir, "../escape"); err == nil {
		t.Fatal("a name with a path was accepted")
	}
	if got := (Files{Cert: "c", Key: "k", CA: "a"}).Args(); strings.Join(got, " ") != "--tls-cert c --tls-key k --tls-ca a" {
		t.Fatalf("Args = %v", got)
	}
}
