package harness

import (
	"context"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// ControllerVersion is this controller's version as its build stamped it
// (cmd/torture sets it from the Makefile's -X main.version, which is `git
// describe --tags --always --dirty`). Empty (go run, go test, a plain go
// build) falls back to Go's build info: see buildVersion.
var ControllerVersion string

// Versions reports the versions of what runs: the server binary (its
// --version), Go, and this controller (ControllerVersion, or what
// buildVersion finds).
func Versions(ctx context.Context, serverBin string) map[string]string {
	v := map[string]string{"go": runtime.Version(), "os/arch": runtime.GOOS + "/" + runtime.GOARCH}
	if ControllerVersion != "" {
		v["torture"] = ControllerVersion
	} else {
		v["torture"] = buildVersion(debug.ReadBuildInfo())
	}
	if serverBin != "" {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		b, err := exec.CommandContext(cctx, serverBin, "--version").CombinedOutput()
		if err != nil {
			v["ares-server"] = "unknown: " + err.Error()
		} else {
			v["ares-server"] = strings.TrimSpace(string(b))
		}
	}
	return v
}

// buildVersion describes a build without the Makefile's stamp from Go's
// build info: the main module's version (a tagged or pseudo-version when
// go build or go install knew one, "(devel)" otherwise) and the VCS
// revision with "modified" when the checkout had uncommitted changes
// (vcs.revision, vcs.modified; go build stamps them from a checkout unless
// -buildvcs=false). go run and go test record neither, and say so.
func buildVersion(bi *debug.BuildInfo, ok bool) string {
	if !ok || bi == nil {
		return "unknown (no build info)"
	}
	var rev, modified, when string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		case "vcs.time":
			when = s.Value
		}
	}
	ver := bi.Main.Version
	if ver == "" {
		ver = "(devel)"
	}
	if rev == "" {
		return ver + ", unstamped: no -X main.version and no VCS revision in the build info (go run, go test, or -buildvcs=false)"
	}
	facts := []string{"vcs.revision " + rev}
	switch modified {
	case "true":
		facts = append(facts, "modified")
	case "false":
		facts = append(facts, "clean")
	}
	if when != "" {
		facts = append(facts, "committed "+when)
	}
	return ver + " (" + strings.Join(facts, ", ") + ")"
}
