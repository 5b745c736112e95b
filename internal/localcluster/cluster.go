// Package localcluster launches Ferry servers on this machine: it writes a
// config with free loopback ports, starts real ferryd processes, waits
// until each answers a hello on its control port, and stops them, removing
// the /dev/shm files a server killed without closing its shm endpoint
// leaves behind.
//
// `ferry local up/down` (servers that outlive the command), `ferry bench`
// and the tests (through internal/testcluster) all launch servers with it.
package localcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/config"
)

// ConfigName is the config file's name inside a cluster's directory.
const ConfigName = "ferry.toml"

// KeyName is the file system key's file in a local cluster's directory.
const KeyName = "ferry.key"

const (
	// How long a server may take to answer after it starts: it opens its
	// fabrics first, which is slow on a loaded machine. A server that
	// exits is noticed at once.
	defaultWait  = time.Minute
	defaultGrace = 10 * time.Second // after SIGTERM, before SIGKILL
)

// Options shape the config of a new cluster.
type Options struct {
	Servers   int                  // default 4
	StripSize int64                // default config.DefaultStripSize
	Timeout   time.Duration        // the config's bound on network waits; 0 keeps the config default
	Edit      func(*config.Config) // adjusts the config before it is written
}

// Cluster is the ferryd servers of one config, kept in Dir with their
// storage, logs (server<i>.log) and, when detached, pid files.
type Cluster struct {
	Dir        string
	ConfigPath string
	Config     *config.Config

	// Ferryd is the program to start; see FindProgram.
	Ferryd string
	// Detach starts servers in a session of their own that outlives this
	// process, with their pids in Dir/server<i>.pid for Down. Otherwise
	// they are this process's children and are killed when it dies.
	Detach bool
	// WaitLimit bounds how long Start waits for a server to answer
	// (default 1 minute).
	WaitLimit time.Duration
	// StopGrace is how long Stop waits after SIGTERM before it sends
	// SIGKILL (default 10 s).
	StopGrace time.Duration

	mu    sync.Mutex
	procs []*proc // by server id; nil: not running
}

// proc is one server process.
type proc struct {
	pid     int
	done    chan struct{} // closed once reaped; nil when not our child (adopted from a pid file)
	waitErr error         // how it exited, once done is closed
}

// maxSocketPath is the room for a Unix socket's path (sun_path, with its NUL).
const maxSocketPath = 108

// Create writes a new config for o into dir (created if needed), with
// storage under dir and ports free right now.
func Create(dir string, o Options) (*Cluster, error) {
	if o.Servers == 0 {
		o.Servers = 4
	}
	if o.Servers < 1 {
		return nil, fmt.Errorf("%d servers: want at least 1", o.Servers)
	}
	if o.StripSize == 0 {
		o.StripSize = config.DefaultStripSize
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, err
	}
	addrs, err := FreeAddrs(o.Servers)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Generate(addrs, abs, o.StripSize)
	if err != nil {
		return nil, err
	}
	if o.Timeout > 0 {
		cfg.Timeout.Duration = o.Timeout
	}
	// Local clients are known by their peer credentials on the servers'
	// Unix sockets, which sit beside the config where every user can
	// reach them; the key signs what the servers issue.
	cfg.Auth = config.AuthLocal
	cfg.KeyFile = filepath.Join(abs, KeyName)
	if err := config.WriteKey(cfg.KeyFile); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	for i := range cfg.Servers {
		if sock := filepath.Join(abs, fmt.Sprintf("server%d.sock", i)); len(sock) < maxSocketPath {
			cfg.Servers[i].Socket = sock
		}
	}
	if o.Edit != nil {
		o.Edit(cfg)
	}
	b, err := cfg.Encode()
	if err != nil {
		return nil, err
	}
	c := newCluster(abs, cfg)
	if err := os.WriteFile(c.ConfigPath, b, 0o644); err != nil {
		return nil, err
	}
	return c, nil
}

// Load opens the cluster whose config is in dir, adopting the servers
// that pid files in dir show running. A missing config is an error that
// wraps fs.ErrNotExist.
func Load(dir string) (*Cluster, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(filepath.Join(abs, ConfigName))
	if err != nil {
		return nil, err
	}
	c := newCluster(abs, cfg)
	for id, pid := range Running(abs) {
		if id < len(c.procs) {
			c.procs[id] = &proc{pid: pid}
		}
	}
	return c, nil
}

func newCluster(dir string, cfg *config.Config) *Cluster {
	return &Cluster{Dir: dir, ConfigPath: filepath.Join(dir, ConfigName), Config: cfg, procs: make([]*proc, len(cfg.Servers))}
}

// LogPath is where server i's output goes.
func (c *Cluster) LogPath(i int) string { return filepath.Join(c.Dir, fmt.Sprintf("server%d.log", i)) }

func pidPath(dir string, i int) string { return filepath.Join(dir, fmt.Sprintf("server%d.pid", i)) }

// Pids returns the pids of the servers running, by id.
func (c *Cluster) Pids() map[int]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[int]int{}
	for i, p := range c.procs {
		if p != nil && p.alive() {
			out[i] = p.pid
		}
	}
	return out
}

// Start starts every server that is not running, all at once, and waits
// until each answers. If one does not, Start stops the ones it started and
// says why, with the end of that server's log.
func (c *Cluster) Start(ctx context.Context) error {
	var started []int
	var err error
	for i := range c.procs {
		c.mu.Lock()
		old := c.procs[i]
		c.mu.Unlock()
		if old != nil && old.alive() {
			continue
		}
		if old != nil { // it died on its own
			removeShmLeftovers(old.pid)
		}
		if err = c.spawn(i); err != nil {
			break
		}
		started = append(started, i)
	}
	for _, i := range started {
		if err != nil {
			break
		}
		err = c.wait(ctx, i)
	}
	if err != nil {
		c.stop(started, syscall.SIGTERM)
	}
	return err
}

// StartServer (re)starts server i and waits until it answers.
func (c *Cluster) StartServer(ctx context.Context, i int) error {
	if i < 0 || i >= len(c.procs) {
		return fmt.Errorf("no server %d", i)
	}
	if _, ok := c.Pids()[i]; ok {
		return fmt.Errorf("server %d is already running", i)
	}
	if err := c.spawn(i); err != nil {
		return err
	}
	if err := c.wait(ctx, i); err != nil {
		c.stop([]int{i}, syscall.SIGTERM)
		return err
	}
	return nil
}

func (c *Cluster) spawn(i int) error {
	if c.Ferryd == "" {
		return errors.New("localcluster: no ferryd program given")
	}
	logf, err := os.OpenFile(c.LogPath(i), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(c.Ferryd, "--config", c.ConfigPath, "--id", strconv.Itoa(i))
	cmd.Stdout, cmd.Stderr = logf, logf // stdin is /dev/null
	if c.Detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlive the caller's terminal
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the caller
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start server %d: %w", i, err)
	}
	// Reap it whenever it exits, for as long as this process lives.
	p := &proc{pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() { p.waitErr = cmd.Wait(); close(p.done) }()
	if c.Detach {
		if err := os.WriteFile(pidPath(c.Dir, i), []byte(strconv.Itoa(p.pid)+"\n"), 0o644); err != nil {
			stopAll([]*proc{p}, syscall.SIGKILL, defaultGrace)
			return err
		}
	}
	c.mu.Lock()
	c.procs[i] = p
	c.mu.Unlock()
	return nil
}

// wait waits until server i answers a hello, exits, or the wait limit or
// ctx ends.
func (c *Cluster) wait(ctx context.Context, i int) error {
	limit := c.WaitLimit
	if limit <= 0 {
		limit = defaultWait
	}
	c.mu.Lock()
	p := c.procs[i]
	c.mu.Unlock()
	addr := c.Config.Servers[i].Address
	deadline := time.Now().Add(limit)
	for {
		if p == nil || !p.alive() {
			return fmt.Errorf("server %d (%s) exited before answering; %s", i, addr, c.logTail(i))
		}
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		cl, err := clientlib.Dial(dctx, addr, clientlib.Options{Provider: "none", Timeout: 2 * time.Second, Name: "localcluster"})
		cancel()
		if err == nil {
			cl.Close()
			// Another process on the port (a server started by hand,
			// another cluster) answers as well as ours would: it is ours
			// only if our process holds the listening socket. Ours then
			// fails to bind and exits, which the next round reports.
			if listens(p.pid, addr) {
				return nil
			}
			err = fmt.Errorf("%s is answered by another process, not pid %d", addr, p.pid)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server %d (%s) did not answer within %v: %w; %s", i, addr, limit, err, c.logTail(i))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// logTail is the end of server i's log, for error messages.
func (c *Cluster) logTail(i int) string {
	b, err := os.ReadFile(c.LogPath(i))
	if err != nil {
		return "no log: " + err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return fmt.Sprintf("log %s ends:\n%s", c.LogPath(i), strings.Join(lines, "\n"))
}

// Stop sends SIGTERM to server i and waits until it has exited (SIGKILL
// after StopGrace). It is an error if the server needed SIGKILL
// (ErrKilled) or, when this process started it, exited with a status
// other than 0.
func (c *Cluster) Stop(i int) error { return c.stop([]int{i}, syscall.SIGTERM) }

// StopWith sends sig to server i and waits until it has exited; any exit
// but status 0 is an error, as after Stop.
func (c *Cluster) StopWith(i int, sig syscall.Signal) error { return c.stop([]int{i}, sig) }

// Kill sends SIGKILL to server i and waits until it has exited.
func (c *Cluster) Kill(i int) error { return c.stop([]int{i}, syscall.SIGKILL) }

// StopAll stops every server still running, all at once.
func (c *Cluster) StopAll() error {
	ids := make([]int, len(c.procs))
	for i := range ids {
		ids[i] = i
	}
	return c.stop(ids, syscall.SIGTERM)
}

func (c *Cluster) stop(ids []int, sig syscall.Signal) error {
	var ps []*proc
	c.mu.Lock()
	for _, i := range ids {
		if i < 0 || i >= len(c.procs) {
			c.mu.Unlock()
			return fmt.Errorf("no server %d", i)
		}
		if c.procs[i] != nil {
			ps = append(ps, c.procs[i])
			c.procs[i] = nil
		}
	}
	c.mu.Unlock()
	err := stopAll(ps, sig, c.StopGrace)
	for _, i := range ids {
		os.Remove(pidPath(c.Dir, i))
	}
	return err
}

// Signal sends sig to server i without waiting for it to exit. After
// SIGSTOP it waits until every thread of the server has stopped, since
// kill(2) returns before, and a request sent in between would be served.
func (c *Cluster) Signal(i int, sig syscall.Signal) error {
	c.mu.Lock()
	var p *proc
	if i >= 0 && i < len(c.procs) {
		p = c.procs[i]
	}
	c.mu.Unlock()
	if p == nil {
		return fmt.Errorf("server %d is not running", i)
	}
	if err := syscall.Kill(p.pid, sig); err != nil {
		return fmt.Errorf("signal server %d (pid %d): %w", i, p.pid, err)
	}
	if sig != syscall.SIGSTOP {
		return nil
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if allStopped(p.pid) {
			return nil
		}
	}
	return fmt.Errorf("server %d (pid %d) did not stop within 5s", i, p.pid)
}

func allStopped(pid int) bool {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if len(tasks) == 0 {
		return false
	}
	for _, t := range tasks {
		if s, err := procState(t); err != nil || s != 'T' {
			return false
		}
	}
	return true
}

// procState reads the state letter of a /proc/<pid>/stat file.
func procState(statPath string) (byte, error) {
	b, err := os.ReadFile(statPath)
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')') // the command name may hold spaces and parentheses
	if i < 0 || i+2 >= len(b) {
		return 0, fmt.Errorf("%s: unexpected format", statPath)
	}
	return b[i+2], nil
}

// Running returns the servers of the cluster in dir that run, as server
// id to pid: those its pid files record and that are still ferryd
// processes, and any ferryd started by hand with dir's config.
func Running(dir string) map[int]int {
	out := serversOf(filepath.Join(dir, ConfigName))
	files, _ := filepath.Glob(filepath.Join(dir, "server*.pid"))
	for _, f := range files {
		id, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "server"), ".pid"))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 1 {
			continue
		}
		// A pid file can outlive its process and the pid be reused:
		// only count what is really a ferryd.
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.Contains(cmdline, []byte("ferryd")) {
			continue
		}
		if _, found := out[id]; found {
			continue // the process that runs it now
		}
		if p := (&proc{pid: pid}); p.alive() {
			out[id] = pid
		}
	}
	return out
}

// Down stops the servers of the cluster in dir (Running: those it
// started and those started by hand with its config; SIGTERM, SIGKILL
// after 10 s), removes the pid files and returns how many servers were
// running. Their data stays.
func Down(dir string) (int, error) {
	running := Running(dir)
	var ps []*proc
	for _, pid := range running {
		ps = append(ps, &proc{pid: pid})
	}
	err := stopAll(ps, syscall.SIGTERM, defaultGrace)
	stale, _ := filepath.Glob(filepath.Join(dir, "server*.pid"))
	for _, f := range stale {
		os.Remove(f)
	}
	return len(running), err
}

// ErrKilled marks a server that did not exit within the grace period
// after SIGTERM and was killed.
var ErrKilled = errors.New("killed after the grace period")

// stopAll signals every process, then waits for each to exit, killing
// those still there after grace (default 10 s), and removes their
// /dev/shm leftovers. Unless sig is SIGKILL, a process that had to be
// killed (ErrKilled) or, when it is our child, exited with a non-zero
// status is an error.
func stopAll(ps []*proc, sig syscall.Signal, grace time.Duration) error {
	if grace <= 0 {
		grace = defaultGrace
	}
	for _, p := range ps {
		syscall.Kill(p.pid, sig)
		// A stopped process would hold the signal until it is continued.
		syscall.Kill(p.pid, syscall.SIGCONT)
	}
	deadline := time.Now().Add(grace)
	var errs error
	for _, p := range ps {
		if !p.waitExit(time.Until(deadline)) {
			syscall.Kill(p.pid, syscall.SIGKILL)
			if !p.waitExit(defaultGrace) {
				errs = errors.Join(errs, fmt.Errorf("pid %d did not exit after SIGKILL", p.pid))
			} else if sig != syscall.SIGKILL {
				errs = errors.Join(errs, fmt.Errorf("pid %d did not exit within %v of %v: %w", p.pid, grace, sig, ErrKilled))
			}
		} else if p.done != nil && p.waitErr != nil && sig != syscall.SIGKILL {
			errs = errors.Join(errs, fmt.Errorf("pid %d after %v: %w", p.pid, sig, p.waitErr))
		}
		removeShmLeftovers(p.pid)
	}
	return errs
}

// alive reports whether the process still runs (a zombie does not).
func (p *proc) alive() bool {
	if p.done != nil {
		select {
		case <-p.done:
			return false
		default:
			return true
		}
	}
	if syscall.Kill(p.pid, 0) != nil {
		return false
	}
	s, err := procState(fmt.Sprintf("/proc/%d/stat", p.pid))
	return err == nil && s != 'Z' && s != 'X'
}

// waitExit waits up to limit for the process to exit.
func (p *proc) waitExit(limit time.Duration) bool {
	if p.done != nil {
		select {
		case <-p.done:
			return true
		case <-time.After(max(limit, 0)):
			return false
		}
	}
	for deadline := time.Now().Add(limit); p.alive(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// removeShmLeftovers removes the /dev/shm/<pid>:<uid>:<n> file that
// libfabric's shm provider leaves per endpoint when its process dies
// without closing it (SIGKILL, a crash).
func removeShmLeftovers(pid int) {
	leaked, _ := filepath.Glob(fmt.Sprintf("/dev/shm/%d:*", pid))
	for _, f := range leaked {
		os.Remove(f)
	}
}
