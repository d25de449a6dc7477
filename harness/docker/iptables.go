package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Chain is the iptables chain, inside a client agent's network namespace,
// that holds the run's cut and loss rules. INPUT and OUTPUT jump to it, so a
// heal is one flush and nothing of Docker's own rules is touched.
const Chain = "ARES-TORTURE"

// linkRules is the fault state of one client container: which servers (by
// ARES network IP) it is cut from, and the drop probability on lossy links.
// Rules live on the client side of each link only: agents never restart, so
// their rules survive every kill and restart of a server (a restarted
// container gets a new network namespace and would lose its rules).
type linkRules struct {
	cut  map[string]bool
	loss map[string]float64
}

func newLinkRules() *linkRules {
	return &linkRules{cut: map[string]bool{}, loss: map[string]float64{}}
}

func (r *linkRules) empty() bool { return len(r.cut) == 0 && len(r.loss) == 0 }

// comment is the comment on every rule of a run; Clean looks for the prefix.
func comment(runID, what string) string {
	c := CommentPrefix + runID
	if what != "" {
		c += " " + what
	}
	return c
}

// setupScript creates the chain and the two jumps to it; fed to
// iptables-restore --noflush once per network namespace.
func setupScript(runID string) string {
	c := strconv.Quote(comment(runID, "jump"))
	return "*filter\n" +
		":" + Chain + " - [0:0]\n" +
		"-I INPUT 1 -m comment --comment " + c + " -j " + Chain + "\n" +
		"-I OUTPUT 1 -m comment --comment " + c + " -j " + Chain + "\n" +
		"COMMIT\n"
}

// renderScript replaces the chain's rules with r's, atomically (one
// iptables-restore transaction): a cut drops both directions; loss drops each
// packet in each direction with probability p.
func renderScript(runID string, r *linkRules) string {
	var b strings.Builder
	b.WriteString("*filter\n-F " + Chain + "\n")
	cut := sortedKeys(r.cut)
	for _, ip := range cut {
		c := strconv.Quote(comment(runID, "cut"))
		fmt.Fprintf(&b, "-A %s -s %s/32 -m comment --comment %s -j DROP\n", Chain, ip, c)
		fmt.Fprintf(&b, "-A %s -d %s/32 -m comment --comment %s -j DROP\n", Chain, ip, c)
	}
	for _, ip := range sortedKeys(r.loss) {
		if r.cut[ip] {
			continue // already dropped entirely
		}
		p := strconv.FormatFloat(r.loss[ip], 'f', 4, 64)
		c := strconv.Quote(comment(runID, "loss "+p))
		fmt.Fprintf(&b, "-A %s -s %s/32 -m statistic --mode random --probability %s -m comment --comment %s -j DROP\n", Chain, ip, p, c)
		fmt.Fprintf(&b, "-A %s -d %s/32 -m statistic --mode random --probability %s -m comment --comment %s -j DROP\n", Chain, ip, p, c)
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// nsExec runs a host tool inside the network namespace of process pid. The
// images carry no tools, so iptables and tc come from the host.
func nsExec(ctx context.Context, pid int, stdin string, tool string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	full := append([]string{"-t", strconv.Itoa(pid), "-n", tool}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", full...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("nsenter -t %d -n %s %s: %w: %s", pid, tool, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// iptablesRestore feeds a script to iptables-restore in pid's namespace
// without flushing what the script does not name.
func iptablesRestore(ctx context.Context, pid int, script string) error {
	_, err := nsExec(ctx, pid, script, "iptables-restore", "--noflush", "-w")
	return err
}

// CheckHostTools reports which of the host tools the docker backend needs
// for network faults are missing.
func CheckHostTools() error {
	var missing []string
	for _, t := range []string{"nsenter", "iptables", "iptables-restore", "iptables-save"} {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("docker backend needs %s on the host (apt-get install iptables util-linux)", strings.Join(missing, ", "))
	}
	return nil
}

// hostRule is one rule of iptables-save output that carries the project
// comment: a leftover on the host's own tables (never made on purpose, but
// Clean checks).
type hostRule struct {
	table string
	args  []string // the rule as iptables arguments, starting with -A CHAIN
}

// findProjectRules parses iptables-save output for rules whose comment starts
// with CommentPrefix.
func findProjectRules(save string) []hostRule {
	var rules []hostRule
	table := ""
	for _, line := range strings.Split(save, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
		case strings.HasPrefix(line, "-A ") && strings.Contains(line, CommentPrefix):
			args, err := splitArgs(line)
			if err != nil {
				continue
			}
			if i := slices.Index(args, "--comment"); i < 0 || i+1 >= len(args) || !strings.HasPrefix(args[i+1], CommentPrefix) {
				continue
			}
			rules = append(rules, hostRule{table: table, args: args})
		}
	}
	return rules
}

// deleteArgs turns a saved rule into the iptables arguments that delete it.
func (r hostRule) deleteArgs() []string {
	args := append([]string{"-w", "-t", r.table}, r.args...)
	args[3] = "-D"
	return args
}

// splitArgs splits an iptables-save line into words, honouring the double
// quotes (with backslash escapes) iptables-save puts around comments.
func splitArgs(line string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case inQuote && ch == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case ch == '"':
			inQuote, have = !inQuote, true
		case !inQuote && (ch == ' ' || ch == '\t'):
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(ch)
			have = true
		}
	}
	if inQuote {
		return nil, errors.New("unterminated quote")
	}
	if have {
		args = append(args, cur.String())
	}
	return args, nil
}
