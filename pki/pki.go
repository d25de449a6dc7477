// Package pki makes the certificate authority of one torture run (or one
// compose cluster) and the mutual-TLS configurations of its servers,
// clients, agents and controller. Every certificate the CA issues serves
// both ends of a connection (server and client authentication), so one
// node's pair is all it needs; peers are trusted only if the run's CA
// signed them, so a client without a certificate, or with another run's,
// is refused at the handshake.
package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// Validity is how long issued certificates last: runs are short, but a
// stored run replayed by hand, or a compose cluster, may live for a while.
const Validity = 90 * 24 * time.Hour

// CA is a certificate authority held in memory.
type CA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

// NewCA makes a fresh self-signed CA named name (ECDSA P-256).
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"ares-torture"}},
		NotBefore:             now.Add(-time.Hour), // tolerate clocks a little behind
		NotAfter:              now.Add(Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: CA certificate: %w", err)
	}
	return &CA{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// CertPEM is the CA's certificate, PEM encoded.
func (ca *CA) CertPEM() []byte { return ca.certPEM }

// Issue makes a certificate for name, valid for server and client
// authentication, with name and hosts (IP addresses or DNS names) as its
// subject alternative names. It returns the certificate and its key, PEM
// encoded.
func (ca *CA) Issue(name string, hosts ...string) (certPEM, keyPEM []byte, err error) {
	if name == "" {
		return nil, nil, errors.New("pki: issue: empty name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: key for %s: %w", name, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"ares-torture"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(Validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range append([]string{name}, hosts...) {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: certificate for %s: %w", name, err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: key for %s: %w", name, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}

// WriteFiles issues a certificate for name (see Issue) and writes it into
// dir as NAME.pem and NAME-key.pem (mode 0600), with the CA's certificate as
// ca.pem. The CA's key is never written.
//
// Every file is replaced atomically (written to a temporary file in dir,
// then renamed), and ca.pem is left alone when it already holds the CA's
// certificate: a process reading dir's files while other certificates are
// issued into it (the docker backend tars a server's files into its
// container while the next server's are written) sees each one whole,
// never truncated.
func (ca *CA) WriteFiles(dir, name string, hosts ...string) (Files, error) {
	if name == "" || filepath.Base(name) != name || name == "ca" {
		return Files{}, fmt.Errorf("pki: bad certificate name %q", name)
	}
	certPEM, keyPEM, err := ca.Issue(name, hosts...)
	if err != nil {
		return Files{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Files{}, fmt.Errorf("pki: %w", err)
	}
	f := Files{Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem"), CA: filepath.Join(dir, "ca.pem")}
	if old, err := os.ReadFile(f.CA); err != nil || !bytes.Equal(old, ca.certPEM) {
		if err := writeAtomic(f.CA, ca.certPEM, 0o644); err != nil {
			return Files{}, err
		}
	}
	if err := writeAtomic(f.Cert, certPEM, 0o644); err != nil {
		return Files{}, err
	}
	if err := writeAtomic(f.Key, keyPEM, 0o600); err != nil {
		return Files{}, err
	}
	return f, nil
}

// tmpSeq makes the names of writeAtomic's temporary files unique within
// the process (the process ID sets them apart from other processes').
var tmpSeq atomic.Uint64

// writeAtomic replaces path with data: it writes a new file next to path
// and renames it over path, so a reader sees the old content or the new,
// whole. The new file is created with perm, as os.WriteFile would (the
// umask applies).
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(path)
	var tmp *os.File
	for {
		name := filepath.Join(dir, fmt.Sprintf(".%s.tmp-%d-%d", base, os.Getpid(), tmpSeq.Add(1)))
		var err error
		tmp, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("pki: %w", err)
		}
	}
	_, err := tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}

// Files names one node's PEM certificate and key and the CA certificate
// its peers must be signed by. The zero value means plaintext.
type Files struct {
	Cert, Key, CA string
}

// AddFlags defines --tls-cert, --tls-key and --tls-ca on fs.
func (f *Files) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&f.Cert, "tls-cert", "", "mutual TLS: this node's PEM certificate (with --tls-key and --tls-ca; none of them: plaintext)")
	fs.StringVar(&f.Key, "tls-key", "", "mutual TLS: the PEM key of --tls-cert")
	fs.StringVar(&f.CA, "tls-ca", "", "mutual TLS: the PEM certificate of the CA that signs every peer; others are refused")
}

// Enabled reports whether any file is named.
func (f Files) Enabled() bool { return f.Cert != "" || f.Key != "" || f.CA != "" }

// Validate checks that all three files are named, or none.
func (f Files) Validate() error {
	if f.Enabled() && (f.Cert == "" || f.Key == "" || f.CA == "") {
		return errors.New("--tls-cert, --tls-key and --tls-ca go together (all three, or none for plaintext)")
	}
	return nil
}

// Args returns the command-line flags that name f (nil when disabled).
func (f Files) Args() []string {
	if !f.Enabled() {
		return nil
	}
	return []string{"--tls-cert", f.Cert, "--tls-key", f.Key, "--tls-ca", f.CA}
}

// load reads the key pair and the CA pool.
func (f Files) load() (tls.Certificate, *x509.CertPool, error) {
	if err := f.Validate(); err != nil {
		return tls.Certificate{}, nil, err
	}
	if !f.Enabled() {
		return tls.Certificate{}, nil, errors.New("pki: no TLS files named")
	}
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("tls key pair: %w", err)
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("tls CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return tls.Certificate{}, nil, fmt.Errorf("tls CA %s: no PEM certificate in it", f.CA)
	}
	return pair, pool, nil
}

// ServerConfig is the TLS configuration of a listener: it presents f's
// certificate and requires every client to present one signed by f's CA.
func ServerConfig(f Files) (*tls.Config, error) {
	pair, pool, err := f.load()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}, nil
}

// ClientConfig is the TLS configuration of a dialer: it presents f's
// certificate and trusts only servers signed by f's CA. serverName, when
// set, is the name the server's certificate must carry (for peers whose
// address is not known when their certificate is issued); otherwise the
// dialed host is checked.
func ClientConfig(f Files, serverName string) (*tls.Config, error) {
	pair, pool, err := f.load()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{pair},
		RootCAs:      pool,
		ServerName:   serverName,
		MinVersion:   tls.VersionTLS13,
	}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}
