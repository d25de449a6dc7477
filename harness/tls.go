package harness

import (
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ares-torture/torture/pki"
)

// The values of --tls (Options.TLS). Validate resolves auto to on or off,
// so test.json records what the run did.
const (
	TLSAuto = "auto"
	TLSOn   = "on"
	TLSOff  = "off"
)

// TLSDir is the folder of a run directory that holds the run's
// certificates when --tls is on: ca.pem, and NAME.pem and NAME-key.pem for
// the controller and each node. The CA's key is never written, so nothing
// in it can sign another certificate.
const TLSDir = "tls"

// ControllerCert is the name of the controller's own certificate.
const ControllerCert = "controller"

// resolveTLS checks o.TLS and turns auto (or empty, from a caller that
// built Options by hand) into on or off: on for the docker backend, whose
// nodes talk over a network other processes of the host can reach; off
// for local (loopback) and sim (no network at all).
func (o *Options) resolveTLS() error {
	switch o.TLS {
	case "", TLSAuto:
		o.TLS = TLSOff
		if o.Backend == "docker" {
			o.TLS = TLSOn
		}
	case TLSOn:
		if o.Backend == "sim" {
			return errors.New("--tls on: the sim backend has no network to secure (its servers and clients run in this process); use --tls auto or off")
		}
	case TLSOff:
	default:
		return fmt.Errorf("--tls %q: want auto, on or off", o.TLS)
	}
	return nil
}

// RunTLS is the mutual-TLS material of one run: its certificate authority,
// held in memory only, and the run's tls folder where every certificate it
// issues is written. Backends issue one certificate per node from it, with
// the addresses they give the node (a docker server's IP is known only once
// its network exists); the controller dials with its own (Controller).
type RunTLS struct {
	ca         *pki.CA
	dir        string
	controller pki.Files

	mu sync.Mutex // one Issue at a time writes into dir
}

// NewRunTLS makes a fresh CA for the run, writes its certificate into dir
// (created) as ca.pem and issues the controller's certificate.
func NewRunTLS(dir string) (*RunTLS, error) {
	ca, err := pki.NewCA("ares-torture run CA")
	if err != nil {
		return nil, err
	}
	t := &RunTLS{ca: ca, dir: dir}
	// The controller's certificate is the first: pki's WriteFiles creates
	// dir and writes ca.pem with it.
	if t.controller, err = t.Issue(ControllerCert, "127.0.0.1", "localhost"); err != nil {
		return nil, err
	}
	return t, nil
}

// Dir is the folder of the run's certificates.
func (t *RunTLS) Dir() string { return t.dir }

// CAPEM is the CA's certificate, PEM encoded.
func (t *RunTLS) CAPEM() []byte { return t.ca.CertPEM() }

// Issue makes a certificate for node name, valid for name and hosts (IP
// addresses or DNS names) as server and as client, writes it into Dir as
// NAME.pem and NAME-key.pem (0600), and returns the files. Issuing a name
// again replaces its files. The files are written by pki's WriteFiles:
// each is replaced atomically, and ca.pem, written with the first
// certificate, is left as it is after that, so a process reading it while
// another certificate is issued sees it whole.
func (t *RunTLS) Issue(name string, hosts ...string) (pki.Files, error) {
	if name == "" || name == "ca" || filepath.Base(name) != name || strings.HasPrefix(name, ".") {
		return pki.Files{}, fmt.Errorf("tls: bad certificate name %q", name)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ca.WriteFiles(t.dir, name, hosts...)
}

// Controller is the controller's certificate, key and CA files.
func (t *RunTLS) Controller() pki.Files { return t.controller }

// ClientConfig is the controller's dialer configuration: it presents the
// controller's certificate and trusts only peers of the run's CA.
// serverName, when set, is the name the peer's certificate must carry (the
// docker agents' "torture-agent"); otherwise the dialed address is checked.
func (t *RunTLS) ClientConfig(serverName string) (*tls.Config, error) {
	return pki.ClientConfig(t.controller, serverName)
}
