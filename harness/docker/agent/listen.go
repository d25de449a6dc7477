package agent

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
)

// DefaultPort is the agent's control port when --listen names none.
const DefaultPort = "8080"

// ListenAddr is the address the agent listens on. With subnet empty it is
// listen; otherwise it is the agent's own address inside subnet (a CIDR),
// found among its interface addresses, with listen's port (DefaultPort if
// listen is empty): the agent binds the control network only, so the ARES
// network, which faults touch and clients share, cannot reach the
// controller's API.
func ListenAddr(listen, subnet string) (string, error) {
	if subnet == "" {
		return listen, nil
	}
	port := DefaultPort
	if listen != "" {
		host, p, err := net.SplitHostPort(listen)
		if err != nil {
			return "", fmt.Errorf("--listen %q: want [HOST]:PORT", listen)
		}
		if host != "" {
			// Two answers to "where": refuse rather than pick one.
			return "", fmt.Errorf("--listen %q names a host; with --listen-subnet give only :PORT", listen)
		}
		port = p
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("--listen-subnet: interface addresses: %w", err)
	}
	ip, err := AddrIn(addrs, subnet)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(ip.String(), port), nil
}

// AddrIn returns the first of addrs (interface addresses, as
// net.InterfaceAddrs gives them) inside subnet, a CIDR.
func AddrIn(addrs []net.Addr, subnet string) (net.IP, error) {
	_, n, err := net.ParseCIDR(subnet)
	if err != nil {
		return nil, fmt.Errorf("--listen-subnet %q: want a CIDR such as 10.1.0.0/24", subnet)
	}
	var have []string
	for _, a := range addrs {
		var ip net.IP
		switch a := a.(type) {
		case *net.IPNet:
			ip = a.IP
		case *net.IPAddr:
			ip = a.IP
		default:
			continue
		}
		if n.Contains(ip) {
			return ip, nil
		}
		have = append(have, ip.String())
	}
	return nil, fmt.Errorf("--listen-subnet %s: no interface address inside it (it has %s)", n, strings.Join(have, ", "))
}

// Listen opens the agent's control listener at addr; with cfg (package
// pki's ServerConfig) it serves TLS and refuses controllers without a
// certificate signed by the run's CA.
func Listen(addr string, cfg *tls.Config) (net.Listener, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return lis, nil
	}
	return tls.NewListener(lis, cfg), nil
}
