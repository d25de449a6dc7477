package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// ImageRepo is the repository name of the node image; docker-compose.yml uses
// ImageRepo:latest.
const ImageRepo = "ares-torture"

// In-image paths of the two binaries.
const (
	serverPath = "/ares-server"
	agentPath  = "/torture-agent"
)

// dockerfile is the whole build: nothing is pulled, the image holds only the
// two static binaries.
const dockerfile = `FROM scratch
COPY ares-server torture-agent /
VOLUME ["/data"]
ENTRYPOINT ["/ares-server"]
`

// ImageOptions say where the static binaries are.
type ImageOptions struct {
	// ServerBin and AgentBin are the statically linked binaries; defaults
	// bin/ares-server and bin/torture-agent.
	ServerBin, AgentBin string
	Logger              *slog.Logger
	// Latest points ImageRepo:latest, the image docker-compose.yml runs,
	// at the image (torture-image, make image). Runs leave it alone and
	// use their digest tag: a run must not swap the binaries under a
	// compose cluster.
	Latest bool
}

func (o *ImageOptions) defaults() {
	if o.ServerBin == "" {
		o.ServerBin = filepath.Join("bin", "ares-server")
	}
	if o.AgentBin == "" {
		o.AgentBin = filepath.Join("bin", "torture-agent")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// EnsureImage returns the reference of the node image holding the current
// binaries. It builds the image FROM scratch through the Engine API unless an
// image whose digest label matches the binaries exists; with opts.Latest
// it points ImageRepo:latest at it either way.
func EnsureImage(ctx context.Context, cli client.APIClient, opts ImageOptions) (string, error) {
	opts.defaults()
	server, err := readStatic(opts.ServerBin, "make build")
	if err != nil {
		return "", err
	}
	agent, err := readStatic(opts.AgentBin, "make build")
	if err != nil {
		return "", err
	}
	digest := imageDigest(server, agent)
	ref := ImageRepo + ":" + digest[:12]
	latest := ImageRepo + ":latest"

	insp, err := cli.ImageInspect(ctx, ref)
	switch {
	case err == nil && insp.Config != nil && insp.Config.Labels[LabelDigest] == digest:
		opts.Logger.Debug("reusing node image", "image", ref)
		if opts.Latest {
			if err := cli.ImageTag(ctx, ref, latest); err != nil {
				return "", fmt.Errorf("tag %s as %s: %w", ref, latest, err)
			}
		}
		return ref, nil
	case err != nil && !cerrdefs.IsNotFound(err):
		return "", fmt.Errorf("inspect image %s: %w", ref, err)
	}

	opts.Logger.Info("building node image", "image", ref, "server", opts.ServerBin, "agent", opts.AgentBin)
	tarball, err := buildContext(server, agent)
	if err != nil {
		return "", err
	}
	tags := []string{ref}
	if opts.Latest {
		tags = append(tags, latest)
	}
	resp, err := cli.ImageBuild(ctx, bytes.NewReader(tarball), build.ImageBuildOptions{
		Tags:        tags,
		Remove:      true,
		ForceRemove: true,
		Labels:      map[string]string{LabelDigest: digest, LabelImage: "1"},
		// The classic builder: BuildKit would need a session, and nothing
		// here gains from it.
		Version: build.BuilderV1,
	})
	if err != nil {
		return "", fmt.Errorf("build image %s: %w", ref, err)
	}
	defer resp.Body.Close()
	if err := drainBuild(resp.Body); err != nil {
		return "", fmt.Errorf("build image %s: %w", ref, err)
	}
	pruneOldImages(ctx, cli, digest, opts.Logger)
	return ref, nil
}

// readStatic reads a binary and checks that it can run FROM scratch: an ELF
// file with no program interpreter, that is, statically linked.
func readStatic(path, hint string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("node image needs %s (run %s): %w", path, hint, err)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s is not an ELF binary: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return nil, fmt.Errorf("%s is dynamically linked; a FROM scratch image needs CGO_ENABLED=0 (run %s)", path, hint)
		}
	}
	return data, nil
}

// imageDigest names the image's content: the Dockerfile and both binaries.
func imageDigest(server, agent []byte) string {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(dockerfile), server, agent} {
		fmt.Fprintf(h, "%d\n", len(part))
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// buildContext is the tar stream ImageBuild sends to the engine.
func buildContext(server, agent []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte(dockerfile)},
		{"ares-server", 0o755, server},
		{"torture-agent", 0o755, agent},
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return nil, fmt.Errorf("build context: %w", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("build context: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	return buf.Bytes(), nil
}

// drainBuild reads the engine's JSON progress stream to its end; a build
// failure arrives as an error message in the stream, not as an HTTP error.
func drainBuild(r io.Reader) error {
	dec := json.NewDecoder(r)
	var tail []string
	for {
		var msg struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read build output: %w", err)
		}
		if s := strings.TrimSpace(msg.Stream); s != "" {
			tail = append(tail, s)
			if len(tail) > 5 {
				tail = tail[1:]
			}
		}
		if msg.Error != "" {
			return fmt.Errorf("%s (last output: %s)", msg.Error, strings.Join(tail, " | "))
		}
	}
}

// pruneAge is how old a node image of other binaries must be before a build
// removes it: a younger one may belong to a run starting right now with
// other binaries, which has checked the image but not yet created from it.
const pruneAge = time.Hour

// pruneOldImages removes old node images of earlier binaries so that
// rebuilds do not pile up. Images still in use stay (the removal fails and
// is ignored).
func pruneOldImages(ctx context.Context, cli client.APIClient, keep string, log *slog.Logger) {
	imgs, err := cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelImage+"=1"))})
	if err != nil {
		log.Debug("list old node images", "err", err)
		return
	}
	for _, img := range imgs {
		if img.Labels[LabelDigest] == keep || time.Since(time.Unix(img.Created, 0)) < pruneAge || slices.Contains(img.RepoTags, ImageRepo+":latest") {
			continue // compose's image stays until torture-image moves the tag
		}
		if _, err := cli.ImageRemove(ctx, img.ID, image.RemoveOptions{PruneChildren: true}); err != nil {
			log.Debug("remove old node image", "id", img.ID, "err", err)
		}
	}
}
