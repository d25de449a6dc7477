package main

// The coverable (CoARES) and fragmented-file (CoARESF) commands: put
// --if-version, get --version, put-file and get-file. They live here so
// that main.go stays the plain register client.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/fragment"
)

// fileOpts are the flags of the commands in this file.
type fileOpts struct {
	// put --if-version; ifVersionSet tells "--if-version 0" (write only
	// if never written) from no flag.
	ifVersion    string
	ifVersionSet bool
	// get --version
	showTag bool
	// put-file block boundaries in bytes (0: the fragment defaults)
	chunkMin, chunkAvg, chunkMax size
}

// size is a byte count flag: 4096, 64K, 64KiB, 1M, 1MiB (powers of 1024).
type size int

func (s *size) String() string { return strconv.Itoa(int(*s)) }

func (s *size) Set(v string) error {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(v)), "B"), "I")
	mult := 1
	switch {
	case strings.HasSuffix(t, "K"):
		mult, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "M"):
		mult, t = 1<<20, t[:len(t)-1]
	}
	n, err := strconv.Atoi(t)
	if err != nil || n <= 0 || n > 1<<30/mult {
		return fmt.Errorf("size %q: want a positive byte count such as 4096, 64KiB or 1MiB", v)
	}
	*s = size(n * mult)
	return nil
}

// fileFlags adds the flags of cmd that this file handles.
func fileFlags(fs *flag.FlagSet, o *opts, cmd string) {
	switch cmd {
	case "put":
		fs.Func("if-version", "coverable write: write only if TAG is still the latest version (0: never written)", func(v string) error {
			o.ifVersion, o.ifVersionSet = v, true
			return nil
		})
	case "get":
		fs.BoolVar(&o.showTag, "version", false, `also print "version TAG", the version read, to stderr`)
	case "put-file":
		fs.StringVar(&o.file, "file", "", "read the file's content from this file (- for stdin)")
		fs.Var(&o.chunkMin, "chunk-min", "smallest block (default 64KiB)")
		fs.Var(&o.chunkAvg, "chunk-avg", "about the mean block (default 256KiB)")
		fs.Var(&o.chunkMax, "chunk-max", "largest block (default 1MiB)")
	case "get-file":
		fs.StringVar(&o.out, "out", "", "write the content to this file instead of stdout")
	}
}

// coverPut is put's action when --if-version is given (nil when it is
// not). Covered is not a failure: the command did what it was asked,
// which includes telling whether the write took effect.
func coverPut(o *opts, key string, value []byte, stdout io.Writer) (func(context.Context, *ares.Client) error, error) {
	if !o.ifVersionSet {
		return nil, nil
	}
	base, err := ares.ParseTag(o.ifVersion)
	if err != nil {
		return nil, usagef("--if-version: %v", err)
	}
	return func(ctx context.Context, c *ares.Client) error {
		res, err := c.CoverWrite(ctx, key, base, value)
		if err != nil {
			return err
		}
		if res.Covered {
			fmt.Fprintf(stdout, "covered by %s\n", res.Tag)
		} else {
			fmt.Fprintln(stdout, res.Tag)
		}
		return nil
	}, nil
}

// fileCommand checks put-file's or get-file's input and returns its action.
func fileCommand(cmd string, o *opts, pos []string, stdin io.Reader, stdout, stderr io.Writer) (func(context.Context, *ares.Client) error, error) {
	if len(pos) != 1 || pos[0] == "" {
		return nil, usagef("%s takes one non-empty KEY, got %d argument(s)", cmd, len(pos))
	}
	key := pos[0]
	fo := fragment.Options{Min: int(o.chunkMin), Average: int(o.chunkAvg), Max: int(o.chunkMax)}
	if cmd == "get-file" {
		return func(ctx context.Context, c *ares.Client) error {
			v, st, err := fragment.Get(ctx, c, key, fo)
			if err != nil {
				return err
			}
			if err := writeValue(o.out, v, stdout); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "get-file %s: %d blocks, %s\n", key, st.Blocks, bytesString(st.Bytes))
			return nil
		}, nil
	}
	if o.file == "" {
		return nil, usagef("put-file needs --file F (- for stdin)")
	}
	// Fill in the defaults now so that bad boundaries are bad input.
	if err := fo.Validate(); err != nil {
		return nil, usagef("%v", err)
	}
	content, err := readValue(o.file, stdin)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, c *ares.Client) error {
		st, err := fragment.Put(ctx, c, key, content, fo)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "put-file %s: %d blocks written, %d unchanged, %s written\n", key, st.BlocksWritten, st.BlocksUnchanged, bytesString(st.BytesWritten))
		return nil
	}, nil
}

// bytesString prints n in binary units: "512 B", "3.1 MiB".
func bytesString(n int) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n)/unit, 0
	for f >= unit && i < 2 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", f, []string{"KiB", "MiB", "GiB"}[i])
}
