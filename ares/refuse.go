package ares

import (
	"errors"
	"fmt"
	"strings"
)

// RefusedError is a server's answer to a request it will not serve: a
// malformed one, one about a configuration it does not belong to or holds
// differently, or one whose reply would be too big. The server stored
// nothing for it, and it would refuse the same request again, so clients
// do not resend it. aresrpc carries it as gRPC codes.InvalidArgument.
type RefusedError struct {
	Reason string
}

func (e *RefusedError) Error() string { return "refused: " + e.Reason }

// refuse returns a RefusedError with a formatted reason.
// The reason is cut at 1 KiB: it quotes request fields, which a client
// may make as large as a message, and it ends up in log lines.
func refuse(format string, args ...any) error {
	return &RefusedError{Reason: trunc(fmt.Sprintf(format, args...), 1024)}
}

// IsRefused reports whether err is, or wraps, a RefusedError.
func IsRefused(err error) bool {
	var r *RefusedError
	return errors.As(err, &r)
}

// maxLogKey is how much of a key a log line or error shows: keys may be
// as large as a message, and a line per failed request must not be.
const maxLogKey = 64

// ShortKey is key as a log line or error shows it: quoted, and past
// maxLogKey bytes cut, with its length.
func ShortKey(key string) string {
	if len(key) <= maxLogKey {
		return fmt.Sprintf("%q", key)
	}
	return fmt.Sprintf("%q…(%d bytes)", key[:maxLogKey], len(key))
}

// checkRequest refuses what this server cannot serve, before it looks at
// its state: an unknown op, a configuration description that is malformed,
// does not match the request's index, DAP or digest, or leaves this server
// out, and the op's own malformed fields. It stores nothing.
func (s *Server) checkRequest(req *Request) error {
	if req.Op <= OpInvalid || req.Op > OpAccept {
		return refuse("unknown op %d", req.Op)
	}
	d := req.Described
	if d == nil {
		return refuse("%s names configuration %d without describing it", req.Op, req.Config)
	}
	if d.ID != req.Config {
		return refuse("%s names configuration %d but describes configuration %d", req.Op, req.Config, d.ID)
	}
	if err := d.Validate(); err != nil {
		return refuse("configuration %d: %v", req.Config, err)
	}
	if req.DAP != d.DAP {
		return refuse("%s says dap %q but describes configuration %d as %s", req.Op, req.DAP, req.Config, d.Kind())
	}
	if want := d.Digest(); req.Digest != want {
		return refuse("%s names configuration %d with digest %q, its description has %q", req.Op, req.Config, trunc(req.Digest, 40), want)
	}
	if d.Index(s.id) < 0 {
		return refuse("server %s is not a member of configuration %s", s.id, d)
	}
	switch req.Op {
	case OpQueryTag, OpQueryData:
		if req.Op == OpQueryTag && req.AllKeys {
			return refuse("query-tag of every key")
		}
		if req.AllKeys && len(req.Keys) > 0 {
			return refuse("%s names %d keys and asks for every key", req.Op, len(req.Keys))
		}
		// A key twice would be answered twice: twice the reply's memory
		// for nothing.
		seen := make(map[string]struct{}, len(req.Keys))
		for _, k := range req.Keys {
			if _, dup := seen[k]; dup {
				return refuse("%s names key %s twice", req.Op, ShortKey(k))
			}
			seen[k] = struct{}{}
		}
	case OpWriteConfig, OpGCConfig:
		return checkPointer(req.Op, req.Config, req.Next)
	case OpAccept:
		v := req.Value
		if v == nil {
			return refuse("accept without a value")
		}
		if err := v.Validate(); err != nil {
			return refuse("accept of configuration %d: %v", v.ID, err)
		}
		// Consensus on configuration i decides configuration i+1 and
		// nothing else (Client.reconfigOnce).
		if v.ID != req.Config+1 {
			return refuse("accept in configuration %d's consensus of configuration %d, want %d", req.Config, v.ID, req.Config+1)
		}
	}
	return nil
}

// checkPointer refuses a write-config or gc-config pointer that no
// reconfiguration makes: ⊥, an unknown status, a malformed configuration,
// one that points at the configuration itself or back, and a gc-config
// to a configuration that is not finalized.
func checkPointer(op Op, cfg uint64, x NextC) error {
	if x.IsNone() {
		return refuse("%s with an empty pointer", op)
	}
	if x.Status > Finalized {
		return refuse("%s with pointer status %d", op, x.Status)
	}
	if err := x.Cfg.Validate(); err != nil {
		return refuse("%s to configuration %d: %v", op, x.Cfg.ID, err)
	}
	if x.Cfg.ID <= cfg {
		return refuse("%s from configuration %d to configuration %d: a successor has a later index", op, cfg, x.Cfg.ID)
	}
	if op == OpGCConfig && x.Status != Finalized {
		return refuse("gc-config to configuration %d that is not finalized (%s)", x.Cfg.ID, x.Status)
	}
	return nil
}

// checkRecorded refuses a request whose configuration differs from the one
// the server recorded under its index (rec nil: none recorded yet).
func checkRecorded(rec, d *Config) error {
	if rec == nil {
		return nil
	}
	return checkDigests(rec, rec.Digest(), d, d.Digest())
}

// checkDigests is checkRecorded with the two digests known.
func checkDigests(rec *Config, recDigest string, d *Config, digest string) error {
	if rec == nil || recDigest == digest {
		return nil
	}
	if rec.Kind() != d.Kind() {
		return refuse("configuration %d here is %s, request says %s", d.ID, rec.Kind(), d.Kind())
	}
	return refuse("configuration %d here has servers %s, request says %s", d.ID, members(rec), members(d))
}

// members lists a configuration's servers as ID=ADDR.
func members(c *Config) string {
	parts := make([]string, len(c.Servers))
	for i, n := range c.Servers {
		parts[i] = n.ID + "=" + n.Addr
	}
	return trunc(strings.Join(parts, ","), 512)
}

// trunc cuts s to n bytes for a message.
func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
