package tracing

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// PrepareFile readies path for a process that appends its spans to it
// (NewFileExporter): it creates path's directory, and when an earlier
// process was killed (SIGKILL) in the middle of writing a line, it cuts
// that torn last line off, so that the spans appended after it stay
// readable by ReadFiles. Complete lines, the earlier process's spans, are
// kept. A missing file is fine.
func PrepareFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	keep, err := completeLines(f)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if keep == st.Size() {
		return nil
	}
	if err := f.Truncate(keep); err != nil {
		return err
	}
	return f.Close()
}

// completeLines is the length of f up to and including its last newline.
func completeLines(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	end := st.Size()
	buf := make([]byte, 64<<10)
	for end > 0 {
		n := int64(len(buf))
		if n > end {
			n = end
		}
		if _, err := f.ReadAt(buf[:n], end-n); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return end - n + int64(i) + 1, nil
		}
		end -= n
	}
	return 0, nil
}
