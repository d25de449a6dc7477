package docker

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
)

// TestRunLeavesLatestAlone: a run's image (other binaries, so another
// digest) gets its digest tag only; ares-torture:latest, the image
// docker-compose.yml runs, keeps pointing where torture-image put it.
func TestRunLeavesLatestAlone(t *testing.T) {
	requireDocker(t)
	server, agentBin := testBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cli, err := NewDockerClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := EnsureImage(ctx, cli, ImageOptions{ServerBin: server, AgentBin: agentBin, Logger: testLogger(t), Latest: true}); err != nil {
		t.Fatal(err)
	}
	before, err := cli.ImageInspect(ctx, ImageRepo+":latest")
	if err != nil {
		t.Fatal(err)
	}
	// Other binaries: the server with a byte appended (still a static ELF).
	b, err := os.ReadFile(server)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "ares-server")
	if err := os.WriteFile(other, append(b, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	ref, err := EnsureImage(ctx, cli, ImageOptions{ServerBin: other, AgentBin: agentBin, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = cli.ImageRemove(context.Background(), ref, image.RemoveOptions{PruneChildren: true})
	})
	after, err := cli.ImageInspect(ctx, ImageRepo+":latest")
	if err != nil {
		t.Fatal(err)
	}
	if after.ID != before.ID {
		t.Errorf("a run moved %s:latest from %s to %s", ImageRepo, before.ID, after.ID)
	}
	run, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if run.ID == before.ID {
		t.Errorf("the run's image %s is compose's", ref)
	}
}
