package docker

import (
	"fmt"
	"os"
	"strconv"
	"strings"

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

// owner names this controller process: "host:pid:start", where start is
// the process's start time in clock ticks since boot, so that a reused pid
// is not mistaken for the controller.
func owner() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	pid := os.Getpid()
	start, _ := procStart(pid)
	return fmt.Sprintf("%s:%d:%d", host, pid, start)
}

// procStart returns a live process's start time from /proc/PID/stat; ok is
// false when there is no such process or it is a zombie (exited, not yet
// reaped: its resources are leftovers all the same).
func procStart(pid int) (start uint64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name may hold spaces and parentheses; the fields after
	// the last ')' are: state ppid ... with starttime the 20th of them.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0, false
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	return start, err == nil
}

// ownerAlive reports whether the controller named by an owner label may
// still run: its process exists on this host (with the same start time),
// or it is on another host (an engine shared between hosts), which we
// cannot look into. An unparsable or missing owner counts as dead.
func ownerAlive(label string) bool {
	parts := strings.Split(label, ":")
	if len(parts) < 2 {
		return false
	}
	host := parts[0]
	me, err := os.Hostname()
	if err != nil {
		return false
	}
	if host != me {
		return true
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return false
	}
	start, ok := procStart(pid)
	if !ok {
		return false
	}
	if len(parts) >= 3 {
		want, err := strconv.ParseUint(parts[2], 10, 64)
		if err == nil && want != 0 && want != start {
			return false // the pid was reused
		}
	}
	return true
}
