package data

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Requests that extend one datafile side by side leave it as long as the
// longest asked for: none shrinks it under another.
func TestExtendNeverShrinks(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "df"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var locks fileLocks
	for round := range 20 {
		var wg sync.WaitGroup
		var top int64
		for i := range 32 {
			end := int64(round*32+i+1) * 4096
			if i%2 == 1 {
				end = int64(round*32+32-i) * 4096 // some ask for less than others already got
			}
			top = max(top, end)
			wg.Go(func() {
				unlock := locks.lock("h", false)
				defer unlock()
				if err := locks.extend("h", f, end); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() < top {
			t.Fatalf("round %d: datafile is %d bytes, a request extended it to %d", round, fi.Size(), top)
		}
	}
}
