package verbs

import (
	"slices"
	"testing"
)

func TestCanonicalProvider(t *testing.T) {
	cases := map[string]string{
		"": "auto", "auto": "auto", " TCP ": "tcp;ofi_rxm", "verbs": "verbs;ofi_rxm",
		"shm": "shm", "none": ProviderNone, "sockets": ProviderNone, "efa": "efa",
	}
	for in, want := range cases {
		if got, err := CanonicalProvider(in); err != nil || got != want {
			t.Errorf("CanonicalProvider(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := CanonicalProvider("infiniband"); err == nil {
		t.Error("unknown provider accepted")
	}
	// Every provider auto may pick is itself a canonical name.
	for _, p := range AutoOrder() {
		if c, err := CanonicalProvider(p); err != nil || c != p {
			t.Errorf("auto order names %q, canonical %q, %v", p, c, err)
		}
	}
}

func TestPrefer(t *testing.T) {
	both := []string{"tcp;ofi_rxm", "shm"}
	cases := []struct {
		offered  []string
		sameHost bool
		want     string
	}{
		{both, true, "shm"},
		{both, false, "tcp;ofi_rxm"},
		{[]string{"tcp;ofi_rxm", "verbs;ofi_rxm"}, false, "verbs;ofi_rxm"}, // preference order, not the offer's
		{[]string{"shm"}, false, ""},
		{nil, true, ""},
	}
	for _, c := range cases {
		if got := Prefer(c.offered, c.sameHost); got != c.want {
			t.Errorf("Prefer(%v, %v) = %q, want %q", c.offered, c.sameHost, got, c.want)
		}
	}
	if i := slices.Index(AutoOrder(), "shm"); i != 0 {
		t.Errorf("shm is at %d of the auto order, want first", i)
	}
}
