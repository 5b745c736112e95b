// Package units formats and parses byte counts for people, in one unit
// system: IEC binary multiples (KiB, MiB, GiB, TiB), so a size the CLI
// prints and a size the benchmark prints read the same way.
package units

import (
	"fmt"
	"strconv"
	"strings"
)

var names = []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}

// Bytes formats n bytes in the largest unit that keeps the figure at
// least 1: "17 B", "64 KiB", "1.5 GiB". Whole multiples print without
// decimals, others with one.
func Bytes(n int64) string {
	if n < 0 {
		return "-" + Bytes(-n)
	}
	i := 0
	for i < len(names)-1 && n >= 1<<(10*(i+1)) {
		i++
	}
	if n%(1<<(10*i)) == 0 {
		return fmt.Sprintf("%d %s", n>>(10*i), names[i])
	}
	return fmt.Sprintf("%.1f %s", float64(n)/float64(int64(1)<<(10*i)), names[i])
}

// Rate formats a throughput of bytesPerSec as Bytes does, per second,
// always with one decimal: "812.4 MiB/s".
func Rate(bytesPerSec float64) string {
	i := 0
	for i < len(names)-1 && bytesPerSec >= float64(int64(1)<<(10*(i+1))) {
		i++
	}
	return fmt.Sprintf("%.1f %s/s", bytesPerSec/float64(int64(1)<<(10*i)), names[i])
}

// Parse reads a size: a plain byte count, or a count with a binary
// multiple, "4K", "64KiB", "1M", "16MiB", "1G" (K, M and G are 1024-based,
// with or without "iB"; a trailing "B" is optional). It rejects zero and
// negative sizes.
func Parse(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	t = strings.TrimSpace(strings.TrimSuffix(t, "B"))
	if n := len(t); n >= 2 && t[n-1] == 'I' && strings.ContainsRune("KMGT", rune(t[n-2])) {
		t = t[:n-1]
	}
	shift := 0
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			shift = 10
		case 'M':
			shift = 20
		case 'G':
			shift = 30
		case 'T':
			shift = 40
		}
		if shift > 0 {
			t = strings.TrimSpace(t[:n-1])
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v <= 0 || v > (1<<62)>>shift {
		return 0, fmt.Errorf("bad size %q (want e.g. 4096, 64K, 1MiB, 2G)", s)
	}
	return v << shift, nil
}
