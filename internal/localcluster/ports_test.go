package localcluster

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestFreeAddrs(t *testing.T) {
	addrs, err := FreeAddrs(8)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Fatalf("duplicate %s", a)
		}
		seen[a] = true
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("%s is not free: %v", a, err)
		}
		ln.Close()
	}
}

func TestFindProgram(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "ferry")
	beside := filepath.Join(dir, "ferryd")
	if err := os.WriteFile(beside, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if p, err := FindProgram(self, "ferryd"); err != nil || p != beside {
		t.Fatalf("beside: %q, %v", p, err)
	}
	t.Setenv("PATH", dir)
	if p, err := FindProgram("", "ferryd"); err != nil || p != beside {
		t.Fatalf("on PATH: %q, %v", p, err)
	}
	if _, err := FindProgram(self, "no-such-ferry-program"); err == nil {
		t.Fatal("found a program that does not exist")
	}
}
