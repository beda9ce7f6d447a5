package runbook

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// OutputReader reads back the output files of a run, in the order the
// journal's call.output records name them: each record's lines come next
// in its file. A resumed screen shows the run's earlier output this way.
type OutputReader struct {
	dir   string
	files map[string]*outputCursor
}

type outputCursor struct {
	f *os.File
	r *bufio.Reader
}

// NewOutputReader reads the output files of the run in runDir.
func NewOutputReader(runDir string) *OutputReader {
	return &OutputReader{dir: runDir, files: map[string]*outputCursor{}}
}

func (r *OutputReader) cursor(file string) (*outputCursor, error) {
	if !filepath.IsLocal(file) || !strings.HasPrefix(filepath.ToSlash(file), OutputDir+"/") {
		return nil, fmt.Errorf("output file %q is not in the run's %s directory", file, OutputDir)
	}
	c, ok := r.files[file]
	if !ok {
		f, err := os.Open(filepath.Join(r.dir, file))
		if err != nil {
			return nil, fmt.Errorf("read output: %w", err)
		}
		c = &outputCursor{f: f, r: bufio.NewReaderSize(f, 64<<10)}
		r.files[file] = c
	}
	return c, nil
}

// Skip passes over the next n lines of file without keeping them.
func (r *OutputReader) Skip(file string, n int) error {
	c, err := r.cursor(file)
	if err != nil {
		return err
	}
	for ; n > 0; n-- {
		if _, err := c.r.ReadSlice('\n'); err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read output %s: %w", file, err)
		} else if errors.Is(err, bufio.ErrBufferFull) {
			n++ // the rest of a long line
		}
	}
	return nil
}

// Next returns the next n lines of file (a call.output record's File and
// Lines). A file that is shorter gives what it has.
func (r *OutputReader) Next(file string, n int) ([]OutputLine, error) {
	c, err := r.cursor(file)
	if err != nil {
		return nil, err
	}
	out := make([]OutputLine, 0, min(n, 4096))
	for len(out) < n {
		line, err := c.r.ReadString('\n')
		if line == "" && err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, fmt.Errorf("read output %s: %w", file, err)
		}
		line = strings.TrimSuffix(line, "\n")
		tag, text, _ := strings.Cut(line, " ")
		stream := Stdout
		switch tag {
		case "2":
			stream = Stderr
		case "i":
			stream = Info
		}
		out = append(out, OutputLine{Stream: stream, Text: text})
	}
	return out, nil
}

// Close closes the files read.
func (r *OutputReader) Close() error {
	var errs []error
	for _, c := range r.files {
		errs = append(errs, c.f.Close())
	}
	r.files = nil
	return errors.Join(errs...)
}
