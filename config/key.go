package config

import (
	"crypto/rand"
	"fmt"
	"os"
)

// KeyBytes is the length of a file system key.
const KeyBytes = 32

// ReadKey reads the file system's secret key. The file must hold at least
// KeyBytes bytes and be readable by its owner only: anyone who can read it
// can sign capabilities and, in auth mode "key", pose as a trusted host.
func ReadKey(path string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("read key: no key_file in the config")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read key %s: %w", path, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("read key %s: mode %04o lets others read it; chmod 600 it", path, st.Mode().Perm())
	}
	b := make([]byte, 4096)
	n, err := f.Read(b)
	if err != nil {
		return nil, fmt.Errorf("read key %s: %w", path, err)
	}
	if n < KeyBytes {
		return nil, fmt.Errorf("read key %s: %d bytes, want at least %d", path, n, KeyBytes)
	}
	return b[:n], nil
}

// WriteKey creates a new random key file readable by its owner only. It
// refuses to replace an existing file, so a running file system's key is
// never changed by accident.
func WriteKey(path string) error {
	b := make([]byte, KeyBytes)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return f.Close()
}
