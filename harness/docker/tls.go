package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/ares-torture/torture/harness/docker/agent"
	"github.com/ares-torture/torture/pki"
)

// AgentServerName is the DNS name in every agent's certificate, the name
// the controller checks when it dials one: an agent's control address is
// known only once its container has started, after its certificate is in
// it.
const AgentServerName = "torture-agent"

// In-container paths of a node's certificate, its key and the run's CA.
// They are copied into the container before it starts: the image is FROM
// scratch (no shell to fetch them), and a bind mount would tie the
// container to this host's run directory.
const (
	tlsDir  = "/tls"
	tlsCert = tlsDir + "/node.pem"
	tlsKey  = tlsDir + "/node-key.pem"
	tlsCA   = tlsDir + "/ca.pem"
)

// containerTLS is the --tls-* flags of a node, as paths in its container.
func containerTLS() []string {
	return pki.Files{Cert: tlsCert, Key: tlsKey, CA: tlsCA}.Args()
}

// tlsConfigs builds the controller's dialer configurations from the run's
// CA: for servers (their ARES address is in their certificate) and for
// agents (AgentServerName). Both nil without TLS.
func (c *Cluster) tlsConfigs() error {
	if c.opts.TLS == nil {
		return nil
	}
	var err error
	if c.serverTLS, err = c.opts.TLS.ClientConfig(""); err != nil {
		return fmt.Errorf("docker backend: %w", err)
	}
	if c.agentTLS, err = c.opts.TLS.ClientConfig(AgentServerName); err != nil {
		return fmt.Errorf("docker backend: %w", err)
	}
	return nil
}

// agentClient returns the controller's handle on client id of the agent
// at addr, over mutual TLS when the run has it.
func (c *Cluster) agentClient(addr, id string) *agent.Client {
	if c.agentTLS == nil {
		return agent.NewClient(addr, id)
	}
	return agent.NewClient(addr, id, agent.WithTLS(c.agentTLS))
}

// putCert issues n's certificate for hosts from the run's CA (written to
// RUN_DIR/tls/ as well, for a person) and copies it, its key and the CA's
// certificate into n's container, created and not yet started. Without
// TLS it does nothing.
func (c *Cluster) putCert(ctx context.Context, n *node, hosts ...string) error {
	if c.opts.TLS == nil {
		return nil
	}
	f, err := c.opts.TLS.Issue(unsafeName.ReplaceAllString(n.name, "-"), hosts...)
	if err != nil {
		return fmt.Errorf("%s %s: %w", n.role, n.name, err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: path.Base(tlsDir) + "/", Mode: 0o755, ModTime: now}); err != nil {
		return err
	}
	for _, e := range []struct {
		src, dst string
		mode     int64
	}{{f.CA, tlsCA, 0o644}, {f.Cert, tlsCert, 0o644}, {f.Key, tlsKey, 0o600}} {
		b, err := os.ReadFile(e.src)
		if err != nil {
			return fmt.Errorf("%s %s: %w", n.role, n.name, err)
		}
		// The processes run as root in their containers (FROM scratch,
		// no USER): root owns the key, and only root reads it.
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.dst[1:], Mode: e.mode, Size: int64(len(b)), ModTime: now}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := c.cli.CopyToContainer(ctx, n.container, "/", &buf, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("%s %s: copy its certificate in: %w", n.role, n.name, err)
	}
	return nil
}

// controlSubnet is the IPv4 subnet the engine gave the control network,
// for the agents' --listen-subnet.
func (c *Cluster) controlSubnet(ctx context.Context) (string, error) {
	insp, err := c.cli.NetworkInspect(ctx, c.ctlNet, network.InspectOptions{})
	if err != nil {
		return "", fmt.Errorf("inspect control network: %w", err)
	}
	for _, cfg := range insp.IPAM.Config {
		if p, err := netip.ParsePrefix(cfg.Subnet); err == nil && p.Addr().Is4() {
			return p.Masked().String(), nil
		}
	}
	return "", errors.New("control network: the engine gave it no IPv4 subnet")
}

// serverProbe is a server's readiness probe: a TCP connection, and with
// TLS a handshake in which the server shows the run's certificate for its
// ARES address.
func (c *Cluster) serverProbe(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d interface {
			DialContext(ctx context.Context, network, addr string) (net.Conn, error)
		} = &net.Dialer{}
		if c.serverTLS != nil {
			d = &tls.Dialer{Config: c.serverTLS}
		}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}
}
