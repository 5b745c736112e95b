package munge

import "testing"

func TestParseUnmunge(t *testing.T) {
	out := "STATUS:          Success (0)\nENCODE_HOST:     node1 (10.0.0.1)\nTTL:             300\n" +
		"UID:             alice (1000)\nGID:             users (100)\nLENGTH:          5\n\nnonce"
	c, err := parseUnmunge([]byte(out))
	if err != nil || c.UID != 1000 || c.GID != 100 || string(c.Payload) != "nonce" {
		t.Fatalf("got %+v, %v", c, err)
	}
	for _, bad := range []string{
		"STATUS:          Expired credential (15)\nUID: a (1)\nGID: b (2)\n\nx",
		"STATUS:          Success (0)\nGID: b (2)\n\nx",
		"STATUS:          Success (0)\nUID: a (x)\nGID: b (2)\n\nx",
		"STATUS:          Success (0)\nUID: a (1)\nGID: b (2)\n",
		"",
	} {
		if c, err := parseUnmunge([]byte(bad)); err == nil {
			t.Errorf("%q: accepted as %+v", bad, c)
		}
	}
}

func FuzzParseUnmunge(f *testing.F) {
	f.Add([]byte("STATUS: Success (0)\nUID: a (1)\nGID: b (2)\n\nx"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseUnmunge(b)
	})
}
