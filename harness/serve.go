package harness

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
)

// ServeConfig says what a StoreServer serves and to whom.
type ServeConfig struct {
	// Store is the run store directory.
	Store string
	// Addr is the address the server listens on (a listener's Addr, so
	// with the real port). The Host header of every request must name it
	// (or a loopback name, or one of Hosts): a page of another site whose
	// name an attacker re-points at this address (DNS rebinding) sends
	// its own name and is refused. Empty accepts loopback names only.
	Addr string
	// Hosts are further names accepted in the Host header: "name" at any
	// port, "name:port" at that port only (the machine's name, a reverse
	// proxy's).
	Hosts []string
	// PageSize is how many runs an index page lists; default 50.
	PageSize int
}

// StoreServer serves a run store over HTTP: an index of the runs, newest
// first, at /; a page per run at /TEST/RUN/ (with a zip of the run at
// /TEST/RUN/?download=zip); and the files of the store below, never one
// outside it.
type StoreServer struct {
	cfg   ServeConfig
	root  *os.Root
	hosts hostPolicy
	// abs is the store's absolute path, for the rerun command a run page
	// prints: it works from any working directory.
	abs string

	mu    sync.Mutex
	cache map[string]cachedRun // by run directory relative to the store
}

// NewStoreServer opens cfg.Store. Close it when done.
func NewStoreServer(cfg ServeConfig) (*StoreServer, error) {
	if cfg.PageSize <= 0 {
		cfg.PageSize = 50
	}
	// os.Root confines every open to the store: a ".." or a symlink that
	// leads out of it fails instead of serving, say, /etc/passwd.
	root, err := os.OpenRoot(cfg.Store)
	if err != nil {
		return nil, err
	}
	abs := cfg.Store
	if a, err := filepath.Abs(cfg.Store); err == nil {
		abs = a
	}
	return &StoreServer{cfg: cfg, root: root, hosts: newHostPolicy(cfg.Addr, cfg.Hosts), abs: abs, cache: map[string]cachedRun{}}, nil
}

// Close closes the store.
func (s *StoreServer) Close() error { return s.root.Close() }

// StoreHandler serves store as a StoreServer that accepts loopback host
// names only (see NewStoreServer for more).
func StoreHandler(store string) http.Handler {
	s, err := NewStoreServer(ServeConfig{Store: store})
	if err != nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			setCommonHeaders(w)
			http.Error(w, "open run store: "+err.Error(), http.StatusInternalServerError)
		})
	}
	return s
}

// Content-Security-Policies. The server's own pages get the strictest:
// their only style is the one <style> element, allowed by its hash, and
// nothing else loads. Files of a run come with their own inline scripts
// and styles (report.html's styles, Porcupine's k*.html script), so HTML
// inside the store may run inline code but still load nothing from
// anywhere (connect-src falls back to 'none': a script cannot send a
// file away). Other files are shown as GitHub shows raw files: nothing
// runs, and an SVG or a history sniffed as HTML cannot script either.
var (
	pageCSP = "default-src 'none'; style-src '" + cssHash(pageCSS) + "'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

const (
	runHTMLCSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
	rawFileCSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
)

func cssHash(css string) string {
	sum := sha256.Sum256([]byte(css))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

func setCommonHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Referrer-Policy", "no-referrer")
}

// ServeHTTP implements http.Handler.
func (s *StoreServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Headers first, so that refusals carry them too.
	setCommonHeaders(w)
	if !s.hosts.ok(r.Host) {
		http.Error(w, "misdirected request: this server does not answer to host "+r.Host, http.StatusMisdirectedRequest)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if !strings.HasPrefix(p, "/") {
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	rel := strings.Trim(p, "/")
	if rel == "" || rel == "index.html" {
		s.serveIndex(w, r)
		return
	}
	if rel == "favicon.ico" {
		if _, err := s.root.Stat(rel); err != nil {
			// Browsers ask for it on every page; no icon, and no 404 in
			// the console.
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	segs := strings.Split(rel, "/")
	for _, seg := range segs {
		// os.Root would refuse an escape anyway; refusing every "." and
		// ".." (and the empty segment of "//") keeps one name per file.
		if seg == "" || seg == "." || seg == ".." || strings.ContainsRune(seg, 0) {
			http.Error(w, "bad path", http.StatusBadRequest)
			return
		}
	}
	fi, err := s.root.Stat(rel)
	if err != nil {
		storeError(w, err)
		return
	}
	if !fi.IsDir() {
		s.serveFile(w, r, rel, fi)
		return
	}
	if !strings.HasSuffix(p, "/") {
		redirect(w, r, p+"/")
		return
	}
	// store/latest (a symlink to the newest run) and the like: redirect
	// to where it points, so that a run has one address and its page
	// and zip name the real run.
	if lfi, err := s.root.Lstat(segs[0]); err == nil && lfi.Mode()&fs.ModeSymlink != 0 {
		target, err := s.root.Readlink(segs[0])
		target = path.Clean(target)
		if err != nil || path.IsAbs(target) || target == ".." || strings.HasPrefix(target, "../") || target == "." {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		redirect(w, r, "/"+path.Join(append([]string{target}, segs[1:]...)...)+"/")
		return
	}
	switch len(segs) {
	case 1: // a test's folder: the index of its runs
		redirect(w, r, "/?"+url.Values{"test": {segs[0]}}.Encode())
	case 2:
		if r.URL.Query().Get("download") == "zip" {
			s.serveZip(w, r, rel)
			return
		}
		s.serveRun(w, r, rel)
	default: // a folder inside a run: its run page lists every file
		redirect(w, r, hrefPath(segs[0]+"/"+segs[1])+"/#files")
	}
}

// redirect keeps the query, so that latest/?download=zip still zips.
func redirect(w http.ResponseWriter, r *http.Request, to string) {
	if r.URL.RawQuery != "" && !strings.Contains(to, "?") {
		if i := strings.IndexByte(to, '#'); i >= 0 {
			to = to[:i] + "?" + r.URL.RawQuery + to[i:]
		} else {
			to += "?" + r.URL.RawQuery
		}
	}
	http.Redirect(w, r, to, http.StatusFound)
}

// storeError answers a failed open: 404 for what is not there, 403 for
// what os.Root refused (a path or symlink leading out of the store).
func storeError(w http.ResponseWriter, err error) {
	if errors.Is(err, fs.ErrNotExist) {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	http.Error(w, "forbidden", http.StatusForbidden)
}

// serveFile serves one regular file of the store.
func (s *StoreServer) serveFile(w http.ResponseWriter, r *http.Request, rel string, fi fs.FileInfo) {
	if !fi.Mode().IsRegular() {
		// A FIFO would hang the request, a device is no run's file.
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	f, err := s.root.Open(rel)
	if err != nil {
		storeError(w, err)
		return
	}
	defer f.Close()
	// Stat the open file: rel may have been swapped since the Stat above.
	if fi, err = f.Stat(); err != nil || !fi.Mode().IsRegular() {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	ct, csp := fileType(rel, f)
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Security-Policy", csp)
	http.ServeContent(w, r, path.Base(rel), fi.ModTime(), f)
}

// fileType is the Content-Type and Content-Security-Policy of a file of
// the store. Logs and histories (.log, .out, .jsonl, no extension) are
// shown as text rather than sniffed: a history value that looks like
// HTML must not turn a history into a page.
func fileType(name string, f io.ReadSeeker) (ct, csp string) {
	ext := strings.ToLower(path.Ext(name))
	switch ext {
	case ".html", ".htm":
		return "text/html; charset=utf-8", runHTMLCSP
	case ".json":
		return "application/json", rawFileCSP
	case ".jsonl", ".log", ".out", ".txt", ".md", ".csv", ".xml", "":
		return "text/plain; charset=utf-8", rawFileCSP
	}
	if ct := mime.TypeByExtension(ext); ct != "" {
		return ct, rawFileCSP
	}
	var buf [512]byte
	n, _ := io.ReadFull(f, buf[:])
	_, _ = f.Seek(0, io.SeekStart)
	if strings.HasPrefix(http.DetectContentType(buf[:n]), "text/") {
		return "text/plain; charset=utf-8", rawFileCSP
	}
	return "application/octet-stream", rawFileCSP
}

// serveZip streams the run directory rel as a zip of its regular files
// under TEST/RUN/, so that the unzipped folder is a run store of its own
// (torture serve --store, torture rerun). Symlinks, devices and the like are
// left out: a run holds regular files only, and a symlink could name
// something outside it.
func (s *StoreServer) serveZip(w http.ResponseWriter, r *http.Request, rel string) {
	sub, err := s.root.OpenRoot(rel)
	if err != nil {
		storeError(w, err)
		return
	}
	defer sub.Close()
	test, run := path.Split(rel)
	test = strings.TrimSuffix(test, "/")
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": test + "-" + run + ".zip"}))
	w.Header().Set("Content-Security-Policy", rawFileCSP)
	if r.Method == http.MethodHead {
		return
	}
	zw := zip.NewWriter(w)
	walkErr := fs.WalkDir(sub.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // an unreadable folder is left out, not the zip
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return zipFile(zw, sub, p, rel+"/"+p)
	})
	if walkErr != nil {
		// Headers are gone: all we can do is stop, and a client sees a
		// zip cut short (its central directory missing).
		return
	}
	_ = zw.Close()
}

func zipFile(zw *zip.Writer, root *os.Root, name, zipName string) error {
	f, err := root.Open(name)
	if err != nil {
		return nil // gone since listed
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	hdr, err := zip.FileInfoHeader(fi)
	if err != nil {
		return nil
	}
	hdr.Name = zipName
	hdr.Method = zip.Deflate
	zf, err := zw.CreateHeader(hdr)
	if err != nil {
		return err
	}
	// At most the size stat saw: a live run's history keeps growing, and
	// the zip should end.
	_, err = io.CopyN(zf, f, fi.Size())
	if errors.Is(err, io.EOF) {
		err = nil // truncated meanwhile: what there was
	}
	return err
}

// hostPolicy decides which Host headers are served.
type hostPolicy struct {
	port    string          // the bound port; "" when unknown
	exact   map[string]bool // host names/IPs accepted at the bound port
	ports   map[string]bool // "host:port" pairs accepted
	anyPort map[string]bool // names accepted at any port
	anyIP   bool            // bound to every address: any IP literal at the bound port
}

func newHostPolicy(addr string, extra []string) hostPolicy {
	p := hostPolicy{exact: map[string]bool{}, ports: map[string]bool{}, anyPort: map[string]bool{}}
	if host, port, err := net.SplitHostPort(addr); err == nil {
		p.port = port
		ip := net.ParseIP(host)
		if host == "" || (ip != nil && ip.IsUnspecified()) {
			// Reachable under any of the machine's addresses; an IP
			// literal is no rebinding (the page's origin is that IP).
			p.anyIP = true
			if name, err := os.Hostname(); err == nil {
				p.exact[normHost(name)] = true
			}
		} else {
			p.exact[normHost(host)] = true
		}
	}
	for _, h := range extra {
		if host, port, err := net.SplitHostPort(h); err == nil {
			p.ports[normHost(host)+":"+port] = true
		} else if h != "" {
			p.anyPort[normHost(h)] = true
		}
	}
	return p
}

func normHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
}

// ok says whether a request with Host header h is served. Loopback names
// (localhost, 127.0.0.1, [::1]) pass at any port: no other site can make
// a browser send them, and an ssh tunnel (ssh -L 9000:localhost:8080)
// changes the port.
func (p hostPolicy) ok(h string) bool {
	if h == "" {
		return false
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		host, port = h, "80"
	}
	host = normHost(host)
	if host == "localhost" {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	if p.anyPort[host] || p.ports[host+":"+port] {
		return true
	}
	if p.port == "" || port != p.port {
		return false
	}
	return p.exact[host] || (p.anyIP && net.ParseIP(host) != nil)
}

// IsLoopbackAddr says whether a listener address (host:port) is reachable
// from this machine only.
func IsLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hrefPath is the absolute URL path of rel (a slash-separated path in the
// store), each segment escaped: a '#' or '?' in a file name stays a name.
func hrefPath(rel string) string {
	return (&url.URL{Path: "/" + rel}).EscapedPath()
}
