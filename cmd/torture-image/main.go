// Command torture-image builds the node image of the docker backend,
// ares-torture:latest, FROM scratch from the static ares-server and
// torture-agent binaries, through the Docker Engine API (nothing is pulled).
// It reuses the image when its digest label matches the binaries. The
// docker backend does the same on its own before a run; this command is for
// docker-compose.yml (make compose-up) and for building ahead of time.
//
//	torture-image [--server bin/ares-server] [--agent bin/torture-agent]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ares-torture/torture/harness/docker"
)

func main() {
	server := flag.String("server", "", "static ares-server binary (default: next to this command, then bin/)")
	agent := flag.String("agent", "", "static torture-agent binary (default: next to ares-server)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	if *server == "" {
		*server = nextToMe("ares-server")
	}
	if *agent == "" {
		*agent = filepath.Join(filepath.Dir(*server), "torture-agent")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()

	cli, err := docker.NewDockerClient()
	if err != nil {
		fmt.Fprintln(os.Stderr, "torture-image:", err)
		os.Exit(1)
	}
	defer cli.Close()
	ref, err := docker.EnsureImage(ctx, cli, docker.ImageOptions{ServerBin: *server, AgentBin: *agent, Logger: log, Latest: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "torture-image:", err)
		os.Exit(1)
	}
	fmt.Printf("%s (also %s:latest)\n", ref, docker.ImageRepo)
}

// nextToMe finds name next to this executable, else in ./bin.
func nextToMe(name string) string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return filepath.Join("bin", name)
}
