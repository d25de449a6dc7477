package docker

import (
	"fmt"
	"os"
	"strconv"

	"github.com/docker/docker/api/types/filters"
)

// Labels put on every container, network and volume of a run, so that a run
// removes exactly its own resources and `torture clean` finds what crashed
// runs left behind.
const (
	// LabelProject marks every resource of the project.
	LabelProject = "io.ares-torture.project"
	// ProjectValue is LabelProject's value.
	ProjectValue = "ares-torture"
	// LabelRun carries the run id.
	LabelRun = "io.ares-torture.run"
	// LabelOwner is "host:pid" of the controller that made the resource, so
	// that Clean leaves alone the resources of a run that is still going.
	LabelOwner = "io.ares-torture.owner"
	// LabelRole is "server" or "agent".
	LabelRole = "io.ares-torture.role"
	// LabelNode is the server or client name.
	LabelNode = "io.ares-torture.node"
	// LabelDigest is on the image: the digest of the binaries inside it.
	LabelDigest = "io.ares-torture.digest"
	// LabelImage marks images built by the backend.
	LabelImage = "io.ares-torture.image"
)

// CommentPrefix starts the comment of every iptables rule the backend adds;
// the run id follows it.
const CommentPrefix = "ares-torture:"

// runLabels are the labels of one resource of run id.
func runLabels(runID, role, node string) map[string]string {
	l := map[string]string{
		LabelProject: ProjectValue,
		LabelRun:     runID,
		LabelOwner:   owner(),
	}
	if role != "" {
		l[LabelRole] = role
	}
	if node != "" {
		l[LabelNode] = node
	}
	return l
}

// runFilter selects the resources of one run.
func runFilter(runID string) filters.Args {
	return filters.NewArgs(
		filters.Arg("label", LabelProject+"="+ProjectValue),
		filters.Arg("label", LabelRun+"="+runID),
	)
}

// projectFilter selects every resource of the project, of any run.
func projectFilter() filters.Args {
	return filters.NewArgs(filters.Arg("label", LabelProject+"="+ProjectValue))
}

// owner names this controller process.
func owner() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

// ownerAlive reports whether the controller named by an owner label may
// still run: its process exists on this host, or it is on another host (an
// engine shared between hosts), which we cannot look into. An unparsable or
// missing owner counts as dead.
func ownerAlive(label string) bool {
	host, pidStr, ok := cutLast(label, ":")
	if !ok {
		return false
	}
	me, err := os.Hostname()
	if err != nil {
		return false
	}
	if host != me {
		return true
	}
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return true
	}
	_, err = os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

func cutLast(s, sep string) (before, after string, found bool) {
	for i := len(s) - len(sep); i >= 0; i-- {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}
