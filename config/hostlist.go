package config

import (
	"fmt"
	"strconv"
	"strings"
)

// ExpandHosts expands a host list as Slurm writes them: comma-separated
// names, each with at most one bracketed set of numbers and ranges whose
// zero padding is kept ("node[01-03,7],io1" is node01 node02 node03
// node7 io1).
func ExpandHosts(list string) ([]string, error) {
	var out []string
	for _, item := range splitTop(list) {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		open := strings.IndexByte(item, '[')
		if open < 0 {
			if strings.ContainsAny(item, "]") {
				return nil, fmt.Errorf("host list %q: unmatched ]", item)
			}
			out = append(out, item)
			continue
		}
		close := strings.IndexByte(item, ']')
		if close < open {
			return nil, fmt.Errorf("host list %q: unmatched [", item)
		}
		prefix, suffix := item[:open], item[close+1:]
		if strings.ContainsAny(suffix, "[]") {
			return nil, fmt.Errorf("host list %q: one bracket set per name", item)
		}
		for _, r := range strings.Split(item[open+1:close], ",") {
			lo, hi, isRange := strings.Cut(strings.TrimSpace(r), "-")
			if !isRange {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil || a < 0 || b < a || b-a > 1<<16 {
				return nil, fmt.Errorf("host list %q: bad range %q", item, r)
			}
			width := len(lo)
			for n := a; n <= b; n++ {
				out = append(out, fmt.Sprintf("%s%0*d%s", prefix, width, n, suffix))
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("host list %q names no host", list)
	}
	return out, nil
}

// splitTop splits at commas outside brackets.
func splitTop(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}
