package main

import (
	"debug/elf"
	"os"
	"testing"

	"github.com/ferry-hpc/ferry/internal/testcluster"
)

// ferryd is a position-independent executable, so where its code and data
// lie in memory is not known from the file (ASLR covers it).
func TestFerrydIsPIE(t *testing.T) {
	checkPIE(t, testcluster.Binary(t, "ferryd"))
}

// TestBuiltFerrydIsPIE checks the ferryd the build installs (FERRYD_BINARY,
// set by ctest).
func TestBuiltFerrydIsPIE(t *testing.T) {
	path := os.Getenv("FERRYD_BINARY")
	if path == "" {
		t.Skip("FERRYD_BINARY not set: ctest sets it to the build's ferryd")
	}
	checkPIE(t, path)
}

func checkPIE(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Type != elf.ET_DYN {
		t.Fatalf("%s is ELF type %v, want %v (position independent)", path, f.Type, elf.ET_DYN)
	}
}
