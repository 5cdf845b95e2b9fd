package image

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Magic numbers of the compressions a tarball or a layer may come in. They are read from the
// stream itself: file names and media types are only hints (`docker save | xz > x.tar` is a
// fine input, and registries have served gzip layers labelled as plain tar).
var (
	gzipMagic  = []byte{0x1f, 0x8b}                     // RFC 1952, 2.3.1
	xzMagic    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00} // xz file format, 2.1.1.1
	zstdMagic  = []byte{0x28, 0xb5, 0x2f, 0xfd}         // RFC 8878, 3.1.1
	bzip2Magic = []byte("BZh")
)

// decompress returns a reader of r's bytes decompressed by whatever its magic number says, or
// of r's bytes as they are when no known magic starts it (a plain tar). Close releases the
// decompressor; it does not close r.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(len(xzMagic))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	case bytes.HasPrefix(head, zstdMagic):
		// One goroutine: layers are unpacked one at a time and the disk is the bottleneck.
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return zr.IOReadCloser(), nil
	case bytes.HasPrefix(head, xzMagic):
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		return io.NopCloser(xr), nil
	case bytes.HasPrefix(head, bzip2Magic):
		return io.NopCloser(bzip2.NewReader(br)), nil
	}
	return io.NopCloser(br), nil
}
