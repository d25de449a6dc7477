package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// TestWriteFilesConcurrentCA: certificates issued concurrently into one
// folder while another goroutine reads ca.pem over and over (as the docker
// backend tars one server's files into its container while the next
// server's certificate is issued): the reader sees the CA's certificate
// whole every time, never an empty or truncated file.
func TestWriteFilesConcurrentCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA("concurrent")
	if err != nil {
		t.Fatal(err)
	}
	first, err := ca.WriteFiles(dir, "n0")
	if err != nil {
		t.Fatal(err)
	}
	const writers, rounds = 8, 40
	stop := make(chan struct{})
	readerDone := make(chan error, 1)
	var reads int
	go func() {
		defer close(readerDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			b, err := os.ReadFile(first.CA)
			if err != nil {
				readerDone <- fmt.Errorf("read %d: %w", reads, err)
				return
			}
			if !bytes.Equal(b, ca.CertPEM()) {
				readerDone <- fmt.Errorf("read %d: ca.pem holds %d bytes, not the CA's certificate (%d bytes)", reads, len(b), len(ca.CertPEM()))
				return
			}
			if !x509.NewCertPool().AppendCertsFromPEM(b) {
				readerDone <- fmt.Errorf("read %d: no PEM certificate in ca.pem", reads)
				return
			}
			reads++
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				if _, err := ca.WriteFiles(dir, fmt.Sprintf("n%d-%d", w, r), "127.0.0.1"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := <-readerDone; err != nil {
		t.Fatal(err)
	}
	if reads == 0 {
		t.Fatal("the reader never read ca.pem")
	}
	// Every temporary file was renamed into place: the folder holds ca.pem
	// and each node's pair, nothing else.
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + 2*(1+writers*rounds); len(ents) != want {
		t.Errorf("the folder holds %d files, want %d", len(ents), want)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

// TestWriteFilesKeepsCA: a second WriteFiles into a folder leaves ca.pem
// as it was (same content, same modification time); the node's files keep
// their modes.
func TestWriteFilesKeepsCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA("keep")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ca.WriteFiles(dir, "a")
	if err != nil {
		t.Fatal(err)
	}
	// An old modification time, so a rewrite shows even on a file system
	// with coarse timestamps.
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(f.CA, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.WriteFiles(dir, "b", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	if !st.ModTime().Equal(old) {
		t.Errorf("ca.pem modified at %v by the second WriteFiles, want %v (untouched)", st.ModTime(), old)
	}
	if b, err := os.ReadFile(f.CA); err != nil || !bytes.Equal(b, ca.CertPEM()) {
		t.Errorf("ca.pem changed: %v", err)
	}
	for path, want := range map[string]os.FileMode{f.Cert: 0o644, f.Key: 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got&^want != 0 || got&0o600 != 0o600 {
			t.Errorf("%s: mode %v, want %v (less the umask)", filepath.Base(path), got, want)
		}
	}
	// Another CA's certificate in ca.pem is replaced.
	other, err := NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.WriteFiles(dir, "c"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(f.CA); err != nil || !bytes.Equal(b, other.CertPEM()) {
		t.Errorf("ca.pem of another CA was not replaced: %v", err)
	}
}
