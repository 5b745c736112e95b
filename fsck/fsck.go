// Package fsck checks a Ferry file system's datafiles against its
// namespace, and removes what nothing can reach.
//
// It finds three kinds of problem:
//
//   - orphans: datafiles whose handle no name refers to (an unlink or a
//     rename whose client or data server died between removing the name
//     and removing the datafiles). They hold space, not data.
//   - missing datafiles: a file whose size says a server must hold some of
//     its strips, while that server has no datafile of it. The bytes read
//     as zeros. A sparse file whose writes skipped every strip of one
//     server looks the same, so these are reported, never repaired.
//   - misfits: datafiles that do not fit their file's layout: on a server
//     the layout does not span (never read), or longer than any file of
//     that layout can be.
//
// The check lists every server's datafiles first, then the namespace.
// As a name is always made before its datafiles, a datafile listed before
// the namespace whose handle the namespace lacks belonged to a file that
// is gone; each suspect is confirmed by one snapshot of the namespace
// (HandlesKnown) before it is called an orphan, so a file renamed during
// the check is never taken for one. Repair removes orphans and datafiles
// on servers their layout does not span; both are unreachable.
package fsck

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/layout"
)

// Options of a check.
type Options struct {
	// Repair removes orphans and datafiles on servers their layout does
	// not span.
	Repair bool
}

// Datafile is one server's datafile of a handle.
type Datafile struct {
	Server int
	Handle string
	Size   int64
}

// Missing is a server that holds no datafile of a file whose size says it
// should.
type Missing struct {
	Path   string
	Handle string
	Server int
	Want   int64 // bytes the server's share of the file's size spans
}

// Misfit is a datafile that does not fit its file's layout.
type Misfit struct {
	Datafile
	Path string
	Why  string
}

// Report is what a check found and, with Repair, what it removed.
type Report struct {
	Servers   int
	Files     int // files in the namespace
	Datafiles int // datafiles on all servers
	Orphans   []Datafile
	Missing   []Missing
	Misfits   []Misfit
	Removed   []Datafile // repaired: removed datafiles
	// RepairErrors are the removals that failed, one per datafile.
	RepairErrors []error
}

// Problems is the count of problems found.
func (r *Report) Problems() int { return len(r.Orphans) + len(r.Missing) + len(r.Misfits) }

// Unrepaired is the count of problems found and not repaired.
func (r *Report) Unrepaired() int { return r.Problems() - len(r.Removed) }

// Check checks the file system c is mounted on. Every server must answer;
// one that does not fails the check (a partial listing would make the
// missing server's datafiles look missing).
func Check(ctx context.Context, c *clientlib.Client, o Options) (*Report, error) {
	n := len(c.Servers())
	rep := &Report{Servers: n}

	// 1. Every server's datafiles, before the namespace.
	held := make([]map[string]clientlib.Datafile, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for id := 0; id < n; id++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dfs, err := c.Datafiles(ctx, id)
			if err != nil {
				errs[id] = fmt.Errorf("list datafiles of server %d: %w", id, err)
				return
			}
			held[id] = make(map[string]clientlib.Datafile, len(dfs))
			for _, d := range dfs {
				held[id][d.Handle] = d
			}
		}()
	}
	wg.Wait()
	for id, err := range errs {
		if err != nil {
			return nil, err
		}
		rep.Datafiles += len(held[id])
	}

	// 2. The namespace.
	files := map[string]*clientlib.FileInfo{}
	if err := c.AllFiles(ctx, func(fi *clientlib.FileInfo) error {
		files[fi.Handle()] = fi
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list the namespace: %w", err)
	}
	rep.Files = len(files)

	// 3. Orphans: suspects, confirmed by one snapshot of the namespace.
	var suspects []string
	seen := map[string]bool{}
	for id := range held {
		for h := range held[id] {
			if files[h] == nil && !seen[h] {
				seen[h] = true
				suspects = append(suspects, h)
			}
		}
	}
	sort.Strings(suspects)
	known, err := c.HandlesKnown(ctx, suspects)
	if err != nil {
		return nil, fmt.Errorf("confirm orphans: %w", err)
	}
	for id := range held {
		for h, d := range held[id] {
			if files[h] == nil && !known[h] {
				rep.Orphans = append(rep.Orphans, Datafile{Server: id, Handle: h, Size: d.Size})
			}
		}
	}

	// 4. Each file's datafiles against its layout.
	for h, fi := range files {
		l := fi.Layout()
		var size int64 // the file's size, as its datafiles derive it
		for id := range held {
			d, ok := held[id][h]
			if !ok {
				continue
			}
			j, in := l.FileServer(id)
			switch {
			case !in:
				rep.Misfits = append(rep.Misfits, Misfit{Datafile: Datafile{Server: id, Handle: h, Size: d.Size}, Path: fi.Path(),
					Why: fmt.Sprintf("on server %d, which its layout (%v) does not span", id, l)})
			case d.Size > l.LocalSize(j, layout.MaxFileSize):
				rep.Misfits = append(rep.Misfits, Misfit{Datafile: Datafile{Server: id, Handle: h, Size: d.Size}, Path: fi.Path(),
					Why: fmt.Sprintf("%d bytes, more than its layout (%v) puts on one server", d.Size, l)})
			default:
				size = max(size, l.LogicalEnd(j, d.Size))
			}
		}
		for j := 0; j < l.Count; j++ {
			id := l.Server(j)
			want := l.LocalSize(j, size)
			if _, ok := held[id][h]; ok || want == 0 {
				continue
			}
			// Written since the listing? Ask again before reporting.
			if _, exists, err := c.DatafileSize(ctx, fi, id); err != nil {
				return nil, fmt.Errorf("recheck %s on server %d: %w", fi.Path(), id, err)
			} else if exists {
				continue
			}
			rep.Missing = append(rep.Missing, Missing{Path: fi.Path(), Handle: h, Server: id, Want: want})
		}
	}
	sortReport(rep)

	if o.Repair {
		var doomed []Datafile
		doomed = append(doomed, rep.Orphans...)
		for _, m := range rep.Misfits {
			if _, in := files[m.Handle].Layout().FileServer(m.Server); !in {
				doomed = append(doomed, m.Datafile)
			}
		}
		for _, d := range doomed {
			if err := c.RemoveDatafile(ctx, d.Server, d.Handle); err != nil {
				rep.RepairErrors = append(rep.RepairErrors, fmt.Errorf("remove datafile %s on server %d: %w", d.Handle, d.Server, err))
				continue
			}
			rep.Removed = append(rep.Removed, d)
		}
	}
	return rep, nil
}

func sortReport(r *Report) {
	less := func(a, b Datafile) bool {
		if a.Handle != b.Handle {
			return a.Handle < b.Handle
		}
		return a.Server < b.Server
	}
	sort.Slice(r.Orphans, func(i, j int) bool { return less(r.Orphans[i], r.Orphans[j]) })
	sort.Slice(r.Misfits, func(i, j int) bool { return less(r.Misfits[i].Datafile, r.Misfits[j].Datafile) })
	sort.Slice(r.Missing, func(i, j int) bool {
		if r.Missing[i].Path != r.Missing[j].Path {
			return r.Missing[i].Path < r.Missing[j].Path
		}
		return r.Missing[i].Server < r.Missing[j].Server
	})
}
