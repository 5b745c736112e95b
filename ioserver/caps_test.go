package ioserver

import (
	"fmt"
	"testing"

	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/ioserver/meta"
	"github.com/ferry-hpc/ferry/proto"
)

// TestMACRemembered: a capability that verified once verifies again
// from memory, and no change to any of its fields, nor another handle,
// passes on the strength of it.
func TestMACRemembered(t *testing.T) {
	s := testServer(config.AuthLocal, []byte("0123456789abcdef0123456789abcdef"))
	const h = "3f2c6a8e-0000-4000-8000-000000000001"
	cp := s.issue(meta.Caller{UID: 1000}, h, proto.RightRead)
	for i := 0; i < 2; i++ {
		if !s.macOK(h, &cp) {
			t.Fatalf("round %d: the issued capability does not verify", i)
		}
	}
	tampered := map[string]func(c *proto.Cap){
		"uid":    func(c *proto.Cap) { c.UID = 0 },
		"rights": func(c *proto.Cap) { c.Rights |= proto.RightWrite },
		"expiry": func(c *proto.Cap) { c.Expiry += 1e12 },
		"mac":    func(c *proto.Cap) { c.MAC[0] ^= 1 },
	}
	for name, change := range tampered {
		c := cp
		change(&c)
		if s.macOK(h, &c) {
			t.Errorf("a capability with its %s changed verifies", name)
		}
	}
	if s.macOK(h[:len(h)-1]+"2", &cp) {
		t.Error("the capability verifies for another handle")
	}
	// Bounded: past maxVerified the set starts again.
	for i := 0; i <= maxVerified; i++ {
		hi := fmt.Sprintf("%s-%d", h, i)
		c := s.issue(meta.Caller{UID: 1000}, hi, proto.RightRead)
		if !s.macOK(hi, &c) {
			t.Fatal("an issued capability does not verify")
		}
	}
	if n := len(s.verified.m); n > maxVerified {
		t.Fatalf("%d capabilities remembered, bound %d", n, maxVerified)
	}
}
