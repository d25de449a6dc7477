package harness

import (
	"bytes"
	"crypto/tls"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ares-torture/torture/pki"
)

// TestRunTLS: a run's tls folder holds the CA's certificate and the
// certificates and keys it issued, never the CA's key; a server with a
// certificate of the run accepts the controller and refuses a client of
// another run's CA.
func TestRunTLS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), TLSDir)
	rt, err := NewRunTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := rt.Issue("s1", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Issue("../x"); err == nil {
		t.Error("Issue accepted a name with a path in it")
	}
	if _, err := rt.Issue("ca"); err == nil {
		t.Error("Issue accepted the name ca (ca.pem is the CA's certificate)")
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if isKey := bytes.Contains(b, []byte("PRIVATE KEY")); isKey != strings.HasSuffix(e.Name(), "-key.pem") {
			t.Errorf("%s: private key %v", e.Name(), isKey)
		}
		if st, _ := e.Info(); strings.HasSuffix(e.Name(), "-key.pem") && st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", e.Name(), st.Mode().Perm())
		}
	}
	sort.Strings(names)
	if got := strings.Join(names, " "); got != "ca.pem controller-key.pem controller.pem s1-key.pem s1.pem" {
		t.Errorf("tls folder holds %s", got)
	}

	scfg, err := pki.ServerConfig(srv)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b := make([]byte, 1)
				if _, err := c.Read(b); err == nil {
					_, _ = c.Write(b)
				}
			}()
		}
	}()
	echo := func(cfg *tls.Config) error {
		c, err := tls.Dial("tcp", l.Addr().String(), cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write([]byte{1}); err != nil {
			return err
		}
		_, err = c.Read(make([]byte, 1))
		return err
	}
	ccfg, err := rt.ClientConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if err := echo(ccfg); err != nil {
		t.Errorf("the controller's certificate: %v", err)
	}
	other, err := NewRunTLS(filepath.Join(t.TempDir(), TLSDir))
	if err != nil {
		t.Fatal(err)
	}
	ocfg, err := other.ClientConfig("")
	if err != nil {
		t.Fatal(err)
	}
	// Trusting this run's servers, but with the other run's certificate.
	ocfg.RootCAs = ccfg.RootCAs
	if err := echo(ocfg); err == nil {
		t.Error("a client with another run's certificate was served")
	}
	if err := echo(&tls.Config{RootCAs: ccfg.RootCAs, MinVersion: tls.VersionTLS13}); err == nil {
		t.Error("a client without a certificate was served")
	}
}
