package units

import "testing"

func TestBytes(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {17, "17 B"}, {1023, "1023 B"}, {1024, "1 KiB"}, {64 << 10, "64 KiB"},
		{1536, "1.5 KiB"}, {1 << 20, "1 MiB"}, {256 << 20, "256 MiB"}, {3 << 29, "1.5 GiB"},
		{1 << 30, "1 GiB"}, {5 << 40, "5 TiB"}, {1000000, "976.6 KiB"}, {-2048, "-2 KiB"},
	} {
		if got := Bytes(c.n); got != c.want {
			t.Errorf("Bytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

func TestRate(t *testing.T) {
	for _, c := range []struct {
		r    float64
		want string
	}{
		{0, "0.0 B/s"}, {512, "512.0 B/s"}, {1 << 20, "1.0 MiB/s"}, {812.4 * (1 << 20), "812.4 MiB/s"}, {2.5 * (1 << 30), "2.5 GiB/s"},
	} {
		if got := Rate(c.r); got != c.want {
			t.Errorf("Rate(%g) = %q, want %q", c.r, got, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	for s, want := range map[string]int64{
		"4096": 4096, "4K": 4 << 10, "64KiB": 64 << 10, "64kib": 64 << 10, "1M": 1 << 20, "16MiB": 16 << 20,
		"1G": 1 << 30, "2GB": 2 << 30, " 8 M ": 8 << 20, "1T": 1 << 40, "100B": 100,
	} {
		if got, err := Parse(s); err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "0", "-1K", "1X", "K", "1.5M", "99999999999T", "1I", "1iB"} {
		if got, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) = %d, want an error", s, got)
		}
	}
	// Parse reads what Bytes writes for whole multiples.
	for _, n := range []int64{1, 4 << 10, 1 << 20, 64 << 20, 1 << 30} {
		if got, err := Parse(Bytes(n)); err != nil || got != n {
			t.Errorf("Parse(Bytes(%d)) = %d, %v", n, got, err)
		}
	}
}
