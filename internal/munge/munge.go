// Package munge encodes and decodes MUNGE credentials by running MUNGE's
// own munge and unmunge programs.
//
// The programs, not cgo against libmunge: ferryd and libferry then build
// and run on hosts without MUNGE (the other auth modes need none of it),
// and a credential is made once per connection, so a process start costs
// nothing that matters.
package munge

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ErrNotInstalled is wrapped when the munge or unmunge program is missing.
var ErrNotInstalled = errors.New("MUNGE is not installed (Debian: apt-get install munge)")

// timeout bounds one call to munged.
const timeout = 10 * time.Second

// Cred is what a decoded credential says.
type Cred struct {
	UID, GID uint32
	Payload  []byte
}

func run(ctx context.Context, prog, socket string, stdin []byte, args ...string) ([]byte, error) {
	path, err := exec.LookPath(prog)
	if err != nil {
		return nil, fmt.Errorf("munge: %s: %w", prog, ErrNotInstalled)
	}
	if socket != "" {
		args = append([]string{"--socket=" + socket}, args...)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("munge: %s: %w: %s", prog, err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// Encode asks munged (at socket, "" for MUNGE's default) for a credential
// of the calling process's uid and gid carrying payload.
func Encode(ctx context.Context, socket string, payload []byte) ([]byte, error) {
	cred, err := run(ctx, "munge", socket, payload)
	if err != nil {
		return nil, err
	}
	return bytes.TrimSpace(cred), nil
}

// Decode asks munged to check a credential and returns what it says. A
// credential decodes once: munged refuses a replay.
func Decode(ctx context.Context, socket string, cred []byte) (Cred, error) {
	if len(cred) == 0 || len(cred) > 64<<10 || bytes.ContainsAny(cred, "\x00\n") {
		return Cred{}, fmt.Errorf("munge: malformed credential of %d bytes", len(cred))
	}
	out, err := run(ctx, "unmunge", socket, cred)
	if err != nil {
		return Cred{}, err
	}
	return parseUnmunge(out)
}

// parseUnmunge reads unmunge's output: "KEY: value" lines, a blank line,
// then the payload. UID and GID lines read "name (number)".
func parseUnmunge(out []byte) (Cred, error) {
	var c Cred
	meta, payload, found := bytes.Cut(out, []byte("\n\n"))
	if !found {
		return c, errors.New("munge: unmunge output has no payload separator")
	}
	c.Payload = payload
	var haveUID, haveGID, ok bool
	sc := bufio.NewScanner(bytes.NewReader(meta))
	for sc.Scan() {
		k, v, found := strings.Cut(sc.Text(), ":")
		if !found {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "STATUS":
			ok = strings.HasPrefix(v, "Success")
		case "UID", "GID":
			n, err := idNumber(v)
			if err != nil {
				return c, fmt.Errorf("munge: %s %q: %w", k, v, err)
			}
			if k == "UID" {
				c.UID, haveUID = n, true
			} else {
				c.GID, haveGID = n, true
			}
		}
	}
	if !ok || !haveUID || !haveGID {
		return c, fmt.Errorf("munge: credential not valid: %q", meta)
	}
	return c, nil
}

// idNumber takes the number out of "root (0)", or a bare "0".
func idNumber(v string) (uint32, error) {
	if i := strings.LastIndexByte(v, '('); i >= 0 && strings.HasSuffix(v, ")") {
		v = v[i+1 : len(v)-1]
	}
	n, err := strconv.ParseUint(v, 10, 32)
	return uint32(n), err
}
