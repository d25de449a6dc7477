package docker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/ares/aresrpc"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/harness/docker/agent"
)

// TestClusterTLS: a cluster with a run CA serves mutual TLS only. Its own
// clients (agents, dialed by the controller with its certificate) work; a
// plaintext client and a TLS client without a certificate are refused by
// every server; an agent refuses a controller without a certificate, and
// listens on the control network only (not on its ARES address).
func TestClusterTLS(t *testing.T) {
	requireDocker(t)
	server, agentBin := testBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rt, err := harness.NewRunTLS(filepath.Join(t.TempDir(), harness.TLSDir))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{RunID: "test-tls-" + fmt.Sprint(time.Now().UnixNano()%1e6), Servers: 3,
		ServerBin: server, AgentBin: agentBin, TLS: rt, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Stop(context.Background(), t.TempDir()); err != nil {
			t.Error(err)
		}
		assertNoLeftovers(t, c.RunID())
	}()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pool := c.Pool()
	// Each server's certificate names its final ARES address.
	for _, n := range pool {
		host, _, _ := net.SplitHostPort(n.Addr)
		b, err := os.ReadFile(filepath.Join(rt.Dir(), n.ID+".pem"))
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if err := cert.VerifyHostname(host); err != nil {
			t.Errorf("%s: %v", n.ID, err)
		}
	}
	cfg := &ares.Config{Servers: pool, DAP: ares.ABD}
	spec := harness.ClientSpec{Initial: cfg, PB: true}
	cl, err := c.NewClient(ctx, "c0", spec)
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := c.ControlClient(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []harness.Client{cl, ctl} {
		octx, ocancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := h.Write(octx, "k", []byte("v1"))
		if err == nil {
			var got []byte
			got, _, err = h.Read(octx, "k")
			if err == nil && string(got) != "v1" {
				err = fmt.Errorf("read %q", got)
			}
		}
		ocancel()
		if err != nil {
			t.Fatalf("the run's own client: %v", err)
		}
	}

	// Strangers on this host, which reaches the ARES network.
	ours, err := rt.ClientConfig("")
	if err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string][]aresrpc.Option{
		"plaintext":      nil,
		"no certificate": {aresrpc.WithTLS(&tls.Config{RootCAs: ours.RootCAs, MinVersion: tls.VersionTLS13})},
		"the run's":      {aresrpc.WithTLS(ours)},
	} {
		tr := aresrpc.NewTransport(opts...)
		stranger, err := ares.NewClient(ares.ClientOptions{ID: "host-client", Initial: cfg, Transport: tr})
		if err != nil {
			t.Fatal(err)
		}
		octx, ocancel := context.WithTimeout(ctx, 3*time.Second)
		got, err := stranger.Read(octx, "k")
		ocancel()
		tr.Close()
		switch {
		case name == "the run's" && (err != nil || string(got) != "v1"):
			// The control: what refuses the others is the certificate.
			t.Errorf("a host client with the run's certificate: %q, %v", got, err)
		case name != "the run's" && err == nil:
			t.Errorf("a %s client read from the cluster", name)
		}
	}

	// The agent: TLS with the run's certificate only, on the control
	// network only.
	c.mu.Lock()
	n := c.nodes["c0"]
	ctlAddr, aresIP := n.ctlAddr, n.ip
	c.mu.Unlock()
	hctx, hcancel := context.WithTimeout(ctx, 5*time.Second)
	defer hcancel()
	if err := c.agentClient(ctlAddr, "").Health(hctx); err != nil {
		t.Errorf("agent health with the controller's certificate: %v", err)
	}
	if err := agent.NewClient(ctlAddr, "").Health(hctx); err == nil {
		t.Error("the agent answered plain HTTP")
	}
	noCert := &tls.Config{RootCAs: ours.RootCAs, ServerName: AgentServerName, MinVersion: tls.VersionTLS13}
	if err := agent.NewClient(ctlAddr, "", agent.WithTLS(noCert)).Health(hctx); err == nil {
		t.Error("the agent answered a controller without a certificate")
	}
	if conn, err := net.DialTimeout("tcp", net.JoinHostPort(aresIP, strconv.Itoa(AgentPort)), 2*time.Second); err == nil {
		conn.Close()
		t.Errorf("the agent listens on its ARES address %s too", aresIP)
	}
}
