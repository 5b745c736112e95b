package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyRoundTripAndPermissions(t *testing.T) {
	p := filepath.Join(t.TempDir(), "key")
	if err := WriteKey(p); err != nil {
		t.Fatal(err)
	}
	k, err := ReadKey(p)
	if err != nil || len(k) != KeyBytes {
		t.Fatalf("ReadKey = %d bytes, %v", len(k), err)
	}
	if err := WriteKey(p); err == nil {
		t.Fatal("WriteKey replaced an existing key")
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKey(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key accepted: %v", err)
	}
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("abc"), 0o600)
	if _, err := ReadKey(short); err == nil {
		t.Fatal("short key accepted")
	}
}
