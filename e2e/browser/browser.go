// Package browser drives a headless Chromium through the DevTools
// protocol (its own small WebSocket client, no dependency) for the browser
// tests of the pages a run leaves behind (report.html,
// linearizability/<key>.html, timeline.html) and of `torture serve`: what
// a page logs as an error, what its DOM holds once loaded, how long it
// takes to load, and screenshots.
//
// The tests need `chromium` on PATH (`make browser-tools` installs
// Debian's) or $CHROMIUM. Without it they skip, except under CI=true
// where they fail: CI must not pass by skipping them.
package browser

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Find returns the Chromium binary to use: $CHROMIUM, else chromium (or
// chromium-browser) on PATH.
func Find() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return exec.LookPath(p)
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("chromium not found on PATH (make browser-tools installs it; or set $CHROMIUM)")
}

// Browser is a headless Chromium this process started.
type Browser struct {
	cmd     *exec.Cmd
	profile string
	ws      *wsConn

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan reply
	pages   map[string]*Page // by DevTools session
	err     error            // set when the connection ended
	done    chan struct{}
}

type reply struct {
	Result json.RawMessage
	Err    error
}

type message struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *cdpError       `json:"error,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
}

type cdpError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    string `json:"data"`
}

func (e *cdpError) Error() string {
	return fmt.Sprintf("devtools: %s (%d) %s", e.Message, e.Code, e.Data)
}

// Launch starts a headless Chromium (binary from Find) with a profile of
// its own and connects to it.
func Launch(ctx context.Context, bin string) (*Browser, error) {
	profile, err := os.MkdirTemp("", "torture-chromium-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin,
		"--headless", "--disable-gpu", "--no-sandbox",
		"--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
		"--user-data-dir="+profile,
		"--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--mute-audio", "--hide-scrollbars",
		"--disable-dev-shm-usage", "--allow-file-access-from-files",
		"about:blank")
	// Its own process group: Close ends the launcher script and every
	// process Chromium started, and only those.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		os.RemoveAll(profile)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(profile)
		return nil, err
	}
	b := &Browser{cmd: cmd, profile: profile, pending: map[int64]chan reply{}, pages: map[string]*Page{}, done: make(chan struct{})}
	wsURL := make(chan string, 1)
	var logTail strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if i := strings.Index(line, "DevTools listening on "); i >= 0 && !sent {
				wsURL <- strings.TrimSpace(line[i+len("DevTools listening on "):])
				sent = true
			}
			if !sent && logTail.Len() < 4096 {
				logTail.WriteString(line + "\n")
			}
		}
		if !sent {
			close(wsURL)
		}
	}()
	var u string
	select {
	case u = <-wsURL:
	case <-time.After(30 * time.Second):
	case <-ctx.Done():
	}
	if u == "" {
		b.kill()
		return nil, fmt.Errorf("chromium did not start its DevTools endpoint: %s", logTail.String())
	}
	if b.ws, err = wsDial(u); err != nil {
		b.kill()
		return nil, err
	}
	go b.readLoop()
	return b, nil
}

func (b *Browser) kill() {
	if b.cmd.Process != nil {
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		_ = b.cmd.Wait()
	}
	os.RemoveAll(b.profile)
}

// Close ends the browser and removes its profile.
func (b *Browser) Close() {
	if b.ws != nil {
		b.ws.Close()
	}
	b.kill()
}

func (b *Browser) readLoop() {
	var err error
	for {
		var raw []byte
		raw, err = b.ws.ReadMessage()
		if err != nil {
			break
		}
		var m message
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		if m.ID != 0 {
			b.mu.Lock()
			ch := b.pending[m.ID]
			delete(b.pending, m.ID)
			b.mu.Unlock()
			if ch != nil {
				r := reply{Result: m.Result}
				if m.Error != nil {
					r.Err = m.Error
				}
				ch <- r
			}
			continue
		}
		b.mu.Lock()
		p := b.pages[m.SessionID]
		b.mu.Unlock()
		if p != nil {
			p.event(m.Method, m.Params)
		}
	}
	if err == io.EOF {
		err = errors.New("devtools connection closed")
	}
	b.mu.Lock()
	b.err = err
	for id, ch := range b.pending {
		ch <- reply{Err: err}
		delete(b.pending, id)
	}
	b.mu.Unlock()
	close(b.done)
}

// call sends a DevTools command (to a page's session, or the browser
// with session "") and waits for its answer.
func (b *Browser) call(ctx context.Context, session, method string, params any, out any) error {
	if params == nil {
		params = struct{}{}
	}
	p, err := json.Marshal(params)
	if err != nil {
		return err
	}
	ch := make(chan reply, 1)
	b.mu.Lock()
	if b.err != nil {
		b.mu.Unlock()
		return b.err
	}
	b.nextID++
	id := b.nextID
	b.pending[id] = ch
	b.mu.Unlock()
	msg, _ := json.Marshal(message{ID: id, Method: method, Params: p, SessionID: session})
	if err := b.ws.WriteText(msg); err != nil {
		return err
	}
	select {
	case r := <-ch:
		if r.Err != nil {
			return fmt.Errorf("%s: %w", method, r.Err)
		}
		if out != nil {
			return json.Unmarshal(r.Result, out)
		}
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// Page is one tab.
type Page struct {
	b       *Browser
	target  string
	session string

	mu     sync.Mutex
	errs   []string
	loaded chan struct{} // closed at the next load event
}

// NewPage opens a blank tab whose viewport is width x height CSS pixels.
func (b *Browser) NewPage(ctx context.Context, width, height int) (*Page, error) {
	var t struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &t); err != nil {
		return nil, err
	}
	var s struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": t.TargetID, "flatten": true}, &s); err != nil {
		return nil, err
	}
	p := &Page{b: b, target: t.TargetID, session: s.SessionID}
	b.mu.Lock()
	b.pages[s.SessionID] = p
	b.mu.Unlock()
	for _, m := range []string{"Page.enable", "Runtime.enable", "Log.enable"} {
		if err := p.call(ctx, m, nil, nil); err != nil {
			p.Close()
			return nil, err
		}
	}
	if err := p.call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false,
	}, nil); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *Page) call(ctx context.Context, method string, params, out any) error {
	return p.b.call(ctx, p.session, method, params, out)
}

// event records the errors a page reports: uncaught exceptions,
// console.error and console.assert, and the browser's own error entries
// (a resource that failed to load, a Content-Security-Policy violation).
func (p *Page) event(method string, params json.RawMessage) {
	switch method {
	case "Page.loadEventFired":
		p.mu.Lock()
		if p.loaded != nil {
			close(p.loaded)
			p.loaded = nil
		}
		p.mu.Unlock()
	case "Runtime.exceptionThrown":
		var e struct {
			ExceptionDetails struct {
				Text      string `json:"text"`
				URL       string `json:"url"`
				Line      int    `json:"lineNumber"`
				Exception *struct {
					Description string `json:"description"`
				} `json:"exception"`
			} `json:"exceptionDetails"`
		}
		if json.Unmarshal(params, &e) == nil {
			d := e.ExceptionDetails
			s := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				s += " " + d.Exception.Description
			}
			p.addErr(fmt.Sprintf("exception at %s:%d: %s", d.URL, d.Line+1, s))
		}
	case "Runtime.consoleAPICalled":
		var e struct {
			Type string `json:"type"`
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
		}
		if json.Unmarshal(params, &e) == nil && (e.Type == "error" || e.Type == "assert") {
			var parts []string
			for _, a := range e.Args {
				if a.Description != "" {
					parts = append(parts, a.Description)
				} else {
					parts = append(parts, fmt.Sprint(a.Value))
				}
			}
			p.addErr("console." + e.Type + ": " + strings.Join(parts, " "))
		}
	case "Log.entryAdded":
		var e struct {
			Entry struct {
				Level  string `json:"level"`
				Source string `json:"source"`
				Text   string `json:"text"`
				URL    string `json:"url"`
			} `json:"entry"`
		}
		if json.Unmarshal(params, &e) == nil && e.Entry.Level == "error" {
			p.addErr(fmt.Sprintf("%s: %s (%s)", e.Entry.Source, e.Entry.Text, e.Entry.URL))
		}
	}
}

func (p *Page) addErr(s string) {
	p.mu.Lock()
	p.errs = append(p.errs, s)
	p.mu.Unlock()
}

// Errors returns the errors the page reported so far.
func (p *Page) Errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errs...)
}

// Navigate loads url and waits for its load event, then for two frames
// (so that what the page draws on load is drawn, and errors it raises
// doing so are in). It returns the wall time from the request to the
// load event.
func (p *Page) Navigate(ctx context.Context, url string) (time.Duration, error) {
	loaded := make(chan struct{})
	p.mu.Lock()
	p.loaded = loaded
	p.mu.Unlock()
	start := time.Now()
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := p.call(ctx, "Page.navigate", map[string]any{"url": url}, &nav); err != nil {
		return 0, err
	}
	if nav.ErrorText != "" {
		return 0, fmt.Errorf("navigate %s: %s", url, nav.ErrorText)
	}
	select {
	case <-loaded:
	case <-p.b.done:
		return 0, p.b.err
	case <-ctx.Done():
		return 0, fmt.Errorf("navigate %s: no load event: %w", url, ctx.Err())
	}
	took := time.Since(start)
	err := p.Eval(ctx, `new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`, nil)
	return took, err
}

// Eval evaluates a JavaScript expression (awaiting a promise) and decodes
// its value into out (if not nil).
func (p *Page) Eval(ctx context.Context, expr string, out any) error {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception *struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := p.call(ctx, "Runtime.evaluate", map[string]any{
		"expression": expr, "returnByValue": true, "awaitPromise": true,
	}, &r); err != nil {
		return err
	}
	if d := r.ExceptionDetails; d != nil {
		s := d.Text
		if d.Exception != nil {
			s = d.Exception.Description
		}
		return fmt.Errorf("eval %q: %s", expr, s)
	}
	if out != nil && len(r.Result.Value) > 0 {
		return json.Unmarshal(r.Result.Value, out)
	}
	return nil
}

// Screenshot returns a PNG of the viewport as it is (scrolled where the
// page scrolled itself).
func (p *Page) Screenshot(ctx context.Context) ([]byte, error) {
	var r struct {
		Data string `json:"data"`
	}
	if err := p.call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"}, &r); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(r.Data)
}

// Close closes the tab.
func (p *Page) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = p.b.call(ctx, "", "Target.closeTarget", map[string]any{"targetId": p.target}, nil)
	p.b.mu.Lock()
	delete(p.b.pages, p.session)
	p.b.mu.Unlock()
}
