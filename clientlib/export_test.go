package clientlib

import "github.com/ferry-hpc/ferry/proto"

// SetCapability replaces the capability f holds, so tests can make it
// close to expiry or expired.
func SetCapability(f *File, cp proto.Cap) {
	f.capab.mu.Lock()
	defer f.capab.mu.Unlock()
	f.capab.cap = cp
}
