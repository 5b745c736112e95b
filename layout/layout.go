// Package layout is Ferry's striping math: pure functions that map a byte
// range of a striped file to the extents each server holds, and back.
//
// A file is cut into strips of StripSize bytes. It is spread over Count
// servers starting at server First of a configuration that has Total
// servers. Strip k lives on file-server j = k mod Count, which is
// configuration server (First + j) mod Total, at local offset
// (k / Count) × StripSize in that server's datafile.
//
// The package knows nothing of networks or files; everything here is
// arithmetic, so it is tested exhaustively by property tests.
package layout

import (
	"errors"
	"fmt"
)

// Limits on layouts a client may ask for. They keep the arithmetic far
// from overflow: MaxFileSize × anything below stays inside int64.
const (
	MinStripSize = 4 << 10 // 4 KiB: smaller strips only add requests
	MaxStripSize = 1 << 30 // 1 GiB
	MaxServers   = 1 << 12 // servers a single file may span
	MaxFileSize  = 1 << 50 // 1 PiB logical size
)

// ErrInvalid is wrapped by every error about a malformed layout or range.
var ErrInvalid = errors.New("invalid layout")

// Layout is the striping of one file.
type Layout struct {
	StripSize int64 // bytes per strip
	Count     int   // servers the file is striped over
	First     int   // configuration index of the server holding strip 0
	Total     int   // servers in the configuration
}

// Validate reports whether l can be used for mapping.
func (l Layout) Validate() error {
	switch {
	case l.StripSize < MinStripSize || l.StripSize > MaxStripSize:
		return fmt.Errorf("%w: strip size %d outside [%d, %d]", ErrInvalid, l.StripSize, MinStripSize, MaxStripSize)
	case l.Total < 1 || l.Total > MaxServers:
		return fmt.Errorf("%w: %d servers in configuration, want 1..%d", ErrInvalid, l.Total, MaxServers)
	case l.Count < 1 || l.Count > l.Total:
		return fmt.Errorf("%w: file spans %d servers, want 1..%d", ErrInvalid, l.Count, l.Total)
	case l.First < 0 || l.First >= l.Total:
		return fmt.Errorf("%w: first server %d outside [0, %d)", ErrInvalid, l.First, l.Total)
	}
	return nil
}

func (l Layout) String() string {
	return fmt.Sprintf("strip %d B over %d of %d servers from server %d", l.StripSize, l.Count, l.Total, l.First)
}

// Server returns the configuration index of file-server j (0 <= j < Count).
func (l Layout) Server(j int) int { return (l.First + j) % l.Total }

// FileServer returns the file-server index j of configuration server id,
// and false when the file has no strips on that server.
func (l Layout) FileServer(id int) (int, bool) {
	j := ((id-l.First)%l.Total + l.Total) % l.Total
	return j, j < l.Count
}

// Extent is a piece of a file range that lies on one server, within one
// strip. Logical is the offset in the file; Local the offset in the
// server's datafile.
type Extent struct {
	Server  int // configuration server index
	Logical int64
	Local   int64
	Len     int64
}

// End is the logical end of the extent.
func (e Extent) End() int64 { return e.Logical + e.Len }

// Map splits the file range [off, off+n) into per-strip extents in logical
// order. It returns nil for n == 0.
func (l Layout) Map(off, n int64) ([]Extent, error) {
	if err := l.checkRange(off, n); err != nil {
		return nil, err
	}
	var out []Extent
	for n > 0 {
		k := off / l.StripSize
		within := off % l.StripSize
		m := min(l.StripSize-within, n)
		j := int(k % int64(l.Count))
		out = append(out, Extent{
			Server:  l.Server(j),
			Logical: off,
			Local:   (k/int64(l.Count))*l.StripSize + within,
			Len:     m,
		})
		off += m
		n -= m
	}
	return out, nil
}

// ByServer groups the extents of [off, off+n) by configuration server,
// each server's list in logical (and so also local) order.
func (l Layout) ByServer(off, n int64) (map[int][]Extent, error) {
	ext, err := l.Map(off, n)
	if err != nil {
		return nil, err
	}
	by := make(map[int][]Extent)
	for _, e := range ext {
		by[e.Server] = append(by[e.Server], e)
	}
	return by, nil
}

// Logical maps a local offset in file-server j's datafile back to the
// logical file offset.
func (l Layout) Logical(j int, local int64) int64 {
	row := local / l.StripSize
	within := local % l.StripSize
	k := row*int64(l.Count) + int64(j)
	return k*l.StripSize + within
}

// LogicalEnd is the logical end of the data a datafile of localSize bytes
// on file-server j holds: the file is at least this long.
func (l Layout) LogicalEnd(j int, localSize int64) int64 {
	if localSize <= 0 {
		return 0
	}
	return l.Logical(j, localSize-1) + 1
}

// LocalSize is the size file-server j's datafile must have for a file of
// logical size size: the bytes of [0, size) that land on j.
func (l Layout) LocalSize(j int, size int64) int64 {
	if size <= 0 {
		return 0
	}
	strips := size / l.StripSize // complete strips
	tail := size % l.StripSize
	rows := strips / int64(l.Count)
	rem := strips % int64(l.Count) // complete strips in the last partial row
	local := rows * l.StripSize
	switch {
	case int64(j) < rem:
		local += l.StripSize
	case int64(j) == rem:
		local += tail
	}
	return local
}

func (l Layout) checkRange(off, n int64) error {
	if err := l.Validate(); err != nil {
		return err
	}
	if off < 0 || n < 0 {
		return fmt.Errorf("%w: negative range [%d, +%d)", ErrInvalid, off, n)
	}
	if off > MaxFileSize || n > MaxFileSize-off {
		return fmt.Errorf("%w: range [%d, +%d) past the %d-byte file size limit", ErrInvalid, off, n, int64(MaxFileSize))
	}
	return nil
}
