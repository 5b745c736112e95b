package verbs

import (
	"bytes"
	"fmt"
	"strconv"
)

const shmPrefix = "fi_shm://"

// ParseShmAddress checks a shm endpoint name, "fi_shm://PID:UID:N" with an
// optional NUL terminator (what shm's fi_getname returns in libfabric
// 1.17), and returns the pid and uid it names: the process whose memory
// RMA with that peer reaches, which a server checks against the
// credentials of the connection the address came on.
func ParseShmAddress(addr []byte) (pid, uid int, err error) {
	bad := func(why string) (int, int, error) {
		return 0, 0, fmt.Errorf("verbs: shm address %q: %s: %w", addr, why, ErrBadAddress)
	}
	s := addr
	if i := bytes.IndexByte(s, 0); i >= 0 {
		if i != len(s)-1 {
			return bad("NUL inside the name")
		}
		s = s[:i]
	}
	if !bytes.HasPrefix(s, []byte(shmPrefix)) {
		return bad("no " + shmPrefix + " prefix")
	}
	parts := bytes.Split(s[len(shmPrefix):], []byte(":"))
	if len(parts) != 3 {
		return bad("want PID:UID:N")
	}
	var nums [3]int
	for i, p := range parts {
		if len(p) == 0 || len(p) > 10 {
			return bad("bad number")
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return bad("bad number")
			}
		}
		n, err := strconv.Atoi(string(p))
		if err != nil || n > 1<<31-1 {
			return bad("bad number")
		}
		nums[i] = n
	}
	if nums[0] == 0 {
		return bad("pid 0")
	}
	return nums[0], nums[1], nil
}
