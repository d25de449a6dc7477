package docker

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/ares/aresrpc"
	"github.com/ares-torture/torture/pki"
)

// composeCommand returns docker-compose (v1, what these machines have) or
// `docker compose` (v2).
func composeCommand(t *testing.T) []string {
	t.Helper()
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	t.Fatal("neither docker-compose nor `docker compose` is installed")
	return nil
}

// TestCompose starts docker-compose.yml on spare ports under its own
// project name and with its own CA (ARES_TLS_DIR), writes and reads
// through it from this host over mutual TLS, checks that a client without
// a certificate is refused, and removes it.
func TestCompose(t *testing.T) {
	requireDocker(t)
	server, agentBin := testBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cli, err := NewDockerClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := EnsureImage(ctx, cli, ImageOptions{ServerBin: server, AgentBin: agentBin, Logger: testLogger(t), Latest: true}); err != nil {
		t.Fatal(err)
	}

	project := fmt.Sprintf("ares-composetest-%d", os.Getpid())
	tlsDir := filepath.Join(t.TempDir(), "tls")
	ca, err := pki.NewCA("compose test")
	if err != nil {
		t.Fatal(err)
	}
	var clientFiles pki.Files
	for _, name := range []string{"s1", "s2", "s3", "s4", "s5", "client"} {
		f, err := ca.WriteFiles(tlsDir, name, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		clientFiles = f
	}
	env := append(os.Environ(), "ARES_TLS_DIR="+tlsDir)
	var nodes []ares.Node
	for i := 1; i <= 5; i++ {
		port := freePort(t)
		env = append(env, fmt.Sprintf("ARES_PORT_S%d=%d", i, port))
		nodes = append(nodes, ares.Node{ID: fmt.Sprintf("s%d", i), Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	}
	compose := func(args ...string) (string, error) {
		base := composeCommand(t)
		full := append(append(base[1:], "-f", "../../docker-compose.yml", "-p", project), args...)
		// Not ctx: the cleanup's `down` runs after ctx is cancelled.
		cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer ccancel()
		cmd := exec.CommandContext(cctx, base[0], full...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() {
		if out, err := compose("down", "-v"); err != nil {
			t.Errorf("compose down: %v: %s", err, out)
		}
	})
	if out, err := compose("up", "-d"); err != nil {
		t.Fatalf("compose up: %v: %s", err, out)
	}

	tlsCfg, err := pki.ClientConfig(clientFiles, "")
	if err != nil {
		t.Fatal(err)
	}
	tr := aresrpc.NewTransport(aresrpc.WithTLS(tlsCfg))
	defer tr.Close()
	c, err := ares.NewClient(ares.ClientOptions{ID: "compose-test", Initial: &ares.Config{Servers: nodes, DAP: ares.ABD}, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("hello-%d", time.Now().UnixNano())
	var werr error
	for try := 0; try < 60; try++ { // the servers take a moment to listen
		octx, ocancel := context.WithTimeout(ctx, 2*time.Second)
		werr = c.Write(octx, "k", []byte(want))
		ocancel()
		if werr == nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if werr != nil {
		out, _ := compose("logs", "--tail", "5")
		t.Fatalf("put through the compose cluster: %v\n%s", werr, out)
	}
	got, err := c.Read(ctx, "k")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if string(got) != want {
		t.Fatalf("get: %q, want %q", got, want)
	}
	// The servers that just served are up: a plaintext client is refused.
	ptr := aresrpc.NewTransport()
	defer ptr.Close()
	plain, err := ares.NewClient(ares.ClientOptions{ID: "plaintext", Initial: &ares.Config{Servers: nodes, DAP: ares.ABD}, Transport: ptr})
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	_, perr := plain.Read(pctx, "k")
	pcancel()
	if perr == nil {
		t.Fatal("a client without a certificate read from the compose cluster")
	}
	// Kill and restart two servers: their volumes keep the value.
	if out, err := compose("kill", "s1", "s2"); err != nil {
		t.Fatalf("compose kill: %v: %s", err, out)
	}
	if out, err := compose("start", "s1", "s2"); err != nil {
		t.Fatalf("compose start: %v: %s", err, out)
	}
	if out, err := compose("stop", "s3", "s4"); err != nil {
		t.Fatalf("compose stop: %v: %s", err, out)
	}
	var rerr error
	for try := 0; try < 40; try++ {
		octx, ocancel := context.WithTimeout(ctx, 2*time.Second)
		got, rerr = c.Read(octx, "k")
		ocancel()
		if rerr == nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if rerr != nil || string(got) != want {
		t.Fatalf("get from s1, s2, s5 after a kill and restart of s1, s2: %q, %v (want %q)", got, rerr, want)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
