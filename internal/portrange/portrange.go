// Package portrange reads and writes port ranges ("7100" or
// "7100-7115"), for the config's fabric_ports and the fabric that binds
// in them: one grammar, checked when the config is read and used when
// an endpoint binds.
package portrange

import (
	"fmt"
	"strconv"
	"strings"
)

// Range is an inclusive range of ports; the zero value means any.
type Range struct{ Lo, Hi int }

// Parse reads "7100" or "7100-7115"; "" is the zero range.
func Parse(s string) (Range, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Range{}, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	var r Range
	var err1, err2 error
	r.Lo, err1 = strconv.Atoi(strings.TrimSpace(lo))
	r.Hi = r.Lo
	if isRange {
		r.Hi, err2 = strconv.Atoi(strings.TrimSpace(hi))
	}
	if err1 != nil || err2 != nil || r.Lo < 1 || r.Hi > 65535 || r.Lo > r.Hi {
		return Range{}, fmt.Errorf("port range %q: want PORT or LO-HI within 1..65535", s)
	}
	return r, nil
}

// String writes the range as Parse reads it.
func (r Range) String() string {
	switch {
	case r.Lo == 0:
		return ""
	case r.Lo == r.Hi:
		return strconv.Itoa(r.Lo)
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}
