package data

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// list pages through the datafiles in handle order, skipping what is not
// a datafile, and gives each one's size.
func TestStoreList(t *testing.T) {
	st, err := openStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 4; i >= 0; i-- {
		h := fmt.Sprintf("%08d-0000-4000-8000-000000000000", i)
		want = append([]string{h}, want...)
		if err := os.WriteFile(filepath.Join(st.dir, h), make([]byte, i*10), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(st.dir, "not-a-handle"), nil, 0o600)
	os.Mkdir(filepath.Join(st.dir, "99999999-0000-4000-8000-000000000000"), 0o700) // a directory, not a datafile
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		files, more, err := st.list(after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) > 2 || pages > 5 {
			t.Fatalf("page %d: %d files, more %v", pages, len(files), more)
		}
		for _, f := range files {
			var i int
			fmt.Sscanf(f.Handle, "%08d", &i)
			if f.Size != int64(i*10) || f.Mtime == 0 {
				t.Fatalf("%s: size %d mtime %d, want size %d", f.Handle, f.Size, f.Mtime, i*10)
			}
			got = append(got, f.Handle)
		}
		if !more {
			break
		}
		after = files[len(files)-1].Handle
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
}
