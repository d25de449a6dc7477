package agent

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares/memnet"
	"github.com/ares-torture/torture/pki"
)

func TestAddrIn(t *testing.T) {
	cidr := func(s string) net.Addr {
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		return n
	}
	addrs := []net.Addr{cidr("127.0.0.1/8"), cidr("::1/128"), cidr("172.20.0.5/16"), cidr("10.7.0.3/24")}
	for _, tc := range []struct{ subnet, want, err string }{
		{"10.7.0.0/24", "10.7.0.3", ""},
		{"172.20.0.0/16", "172.20.0.5", ""},
		{"127.0.0.0/8", "127.0.0.1", ""},
		{"::1/128", "::1", ""},
		{"10.255.255.0/24", "", "no interface address inside it"},
		{"10.7.0.3", "", "want a CIDR"},
	} {
		ip, err := AddrIn(addrs, tc.subnet)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, %v; want error %q", tc.subnet, ip, err, tc.err)
			}
			continue
		}
		if err != nil || ip.String() != tc.want {
			t.Errorf("%s: %v, %v; want %s", tc.subnet, ip, err, tc.want)
		}
	}
}

// TestListenAddr looks at this machine's own interfaces: every host has
// loopback, and none has an address in 10.255.255.0/24 (reserved for this).
func TestListenAddr(t *testing.T) {
	for _, tc := range []struct{ listen, subnet, want, err string }{
		{":8080", "", ":8080", ""},
		{"127.0.0.1:9", "", "127.0.0.1:9", ""},
		{":9000", "127.0.0.0/8", "127.0.0.1:9000", ""},
		{"", "127.0.0.0/8", "127.0.0.1:" + DefaultPort, ""},
		{":9000", "10.255.255.0/24", "", "no interface address inside it"},
		{"127.0.0.1:9000", "127.0.0.0/8", "", "names a host"},
		{"9000", "127.0.0.0/8", "", "want [HOST]:PORT"},
	} {
		got, err := ListenAddr(tc.listen, tc.subnet)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ListenAddr(%q, %q) = %q, %v; want error %q", tc.listen, tc.subnet, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ListenAddr(%q, %q) = %q, %v; want %q", tc.listen, tc.subnet, got, err, tc.want)
		}
	}
}

// TestAgentTLS: an agent listening with the run's TLS configuration serves
// a controller that presents the run's certificate and refuses one with
// none, one with another CA's, and one speaking plaintext.
func TestAgentTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA("run")
	if err != nil {
		t.Fatal(err)
	}
	agentFiles, err := ca.WriteFiles(dir, "torture-agent")
	if err != nil {
		t.Fatal(err)
	}
	ctlFiles, err := ca.WriteFiles(dir, "controller")
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("other run")
	if err != nil {
		t.Fatal(err)
	}
	strangerFiles, err := other.WriteFiles(t.TempDir(), "controller")
	if err != nil {
		t.Fatal(err)
	}

	scfg, err := pki.ServerConfig(agentFiles)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := Listen("127.0.0.1:0", scfg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewServer(Options{Transport: memnet.New(1).Client("agent")})
	if err != nil {
		t.Fatal(err)
	}
	// The refused handshakes are logged; not into the test's output.
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = hs.Serve(lis) }()
	t.Cleanup(func() { _ = hs.Close() })
	addr := lis.Addr().String()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	clientConfig := func(f pki.Files) *tls.Config {
		t.Helper()
		cfg, err := pki.ClientConfig(f, "torture-agent")
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}

	good := NewClient(addr, "c0", WithTLS(clientConfig(ctlFiles)))
	defer good.Close()
	if err := good.Health(ctx); err != nil {
		t.Fatalf("controller with the run's certificate: %v", err)
	}

	// Each of these trusts the agent, so a refusal is the agent's.
	noCert := clientConfig(ctlFiles)
	noCert.Certificates = nil
	stranger := clientConfig(strangerFiles)
	stranger.RootCAs = clientConfig(ctlFiles).RootCAs
	// Go's client sends no certificate the server's CA list does not
	// name; this one must reach the agent's verification.
	stranger.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &stranger.Certificates[0], nil
	}
	for name, c := range map[string]*Client{
		"no certificate": NewClient(addr, "c0", WithTLS(noCert)),
		"another CA's":   NewClient(addr, "c0", WithTLS(stranger)),
		"plaintext":      NewClient(addr, "c0"),
	} {
		err := c.Health(ctx)
		c.Close()
		if err == nil {
			t.Errorf("%s: served", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	// The refusals did not break the listener.
	if err := good.Health(ctx); err != nil {
		t.Fatalf("controller with the run's certificate, again: %v", err)
	}
}
