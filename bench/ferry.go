package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/internal/clientenv"
	"github.com/ferry-hpc/ferry/internal/units"
)

// clientSpec is what one client (in process or a worker subprocess) runs.
type clientSpec struct {
	Path     string `json:"path"`
	Provider string `json:"provider"` // client Options.Provider
	Strategy string `json:"strategy"`
	RegCache string `json:"regcache"`
	Dir      string `json:"dir"`
	Size     int64  `json:"size"`
	Volume   int64  `json:"volume"` // bytes per repetition
	FileSize int64  `json:"file_size"`
	Index    int    `json:"index"`   // this client's number
	Clients  int    `json:"clients"` // how many clients share the file
	BufBytes int64  `json:"buf_bytes"`
}

// repResult is one client's repetition.
type repResult struct {
	Bytes int64   `json:"bytes"`
	Secs  float64 `json:"secs"`
	Err   string  `json:"err,omitempty"`
}

// benchClient is one mounted client with its file and buffer.
type benchClient struct {
	spec   clientSpec
	c      *clientlib.Client
	f      *clientlib.File
	buf    []byte
	ownBuf bool
	cursor int64
	cyc    cycle
}

func openBenchClient(ctx context.Context, cfgPath string, s clientSpec, buf []byte) (*benchClient, error) {
	// The sweep measures each strategy's RDMA path from 16 KiB up, so its
	// clients keep the networked providers' eager threshold on shm too,
	// and read by requests (auto's too), not from the datafiles.
	opts, err := clientenv.Options(clientlib.Options{
		Name: fmt.Sprintf("ferry bench client %d", s.Index), Provider: s.Provider, Strategy: s.Strategy, RegCache: s.RegCache,
		EagerThreshold: clientlib.DefaultEagerThreshold, LocalReads: clientlib.LocalReadsOff,
	}, os.Getenv)
	if err != nil {
		return nil, err
	}
	c, err := clientlib.Mount(ctx, cfgPath, opts)
	if err != nil {
		return nil, err
	}
	f, err := c.Open(ctx, s.Path)
	if err != nil {
		c.Close()
		return nil, err
	}
	bc := &benchClient{spec: s, c: c, f: f, buf: buf}
	if bc.buf == nil {
		if bc.buf, err = anonBuffer(int(s.BufBytes)); err != nil {
			c.Close()
			return nil, err
		}
		bc.ownBuf = true
	}
	// Each client works on its own share of the file.
	share := s.FileSize / int64(max(s.Clients, 1))
	bc.cursor = int64(s.Index) * share
	bc.cyc = cycle{n: len(bc.buf), size: int(s.Size)}
	return bc, nil
}

func (b *benchClient) close() {
	b.c.Close()
	if b.ownBuf {
		freeBuffer(b.buf)
	}
}

// run moves bytes requests of spec.Size, sequentially through the file
// from where the last run stopped (wrapping at the end), through a
// buffer larger than the CPU caches.
func (b *benchClient) run(ctx context.Context, bytes int64) (int64, time.Duration, error) {
	s := b.spec
	var moved int64
	start := time.Now()
	for moved < bytes {
		if b.cursor+s.Size > s.FileSize {
			b.cursor = 0
		}
		o := b.cyc.next()
		p := b.buf[o : o+int(s.Size)]
		var n int
		var err error
		if s.Dir == "write" {
			n, err = b.f.WriteAtContext(ctx, p, b.cursor)
		} else {
			n, err = b.f.ReadAtContext(ctx, p, b.cursor)
		}
		moved += int64(n)
		if err != nil {
			return moved, time.Since(start), fmt.Errorf("%s %d bytes at %d: %w", s.Dir, len(p), b.cursor, err)
		}
		b.cursor += s.Size
	}
	return moved, time.Since(start), nil
}

// RunWorker is the body of `ferry bench --client-worker`: it mounts,
// prints "ready <datapath>", then for every "go" line on in runs one
// repetition and prints its result as a JSON line, until in closes.
func RunWorker(ctx context.Context, cfgPath, specJSON string, in io.Reader, out io.Writer) error {
	var s clientSpec
	if err := json.Unmarshal([]byte(specJSON), &s); err != nil {
		return fmt.Errorf("worker spec: %w", err)
	}
	bc, err := openBenchClient(ctx, cfgPath, s, nil)
	if err != nil {
		fmt.Fprintf(out, "error %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return err
	}
	defer bc.close()
	// First contact (connections, lazy fabric setup) outside the timings.
	if _, _, err := bc.run(ctx, warmupBytes(int64(len(bc.buf)), s.Size)); err != nil {
		fmt.Fprintf(out, "error %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return err
	}
	fmt.Fprintf(out, "ready %s\n", bc.c.DataPath(0))
	sc := bufio.NewScanner(in)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		if sc.Text() != "go" {
			continue
		}
		n, d, err := bc.run(ctx, repBytes(s.Volume, s.Size))
		r := repResult{Bytes: n, Secs: d.Seconds()}
		if err != nil {
			r.Err = err.Error()
		}
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return sc.Err()
}

// worker is a running client subprocess.
type worker struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startWorker(ctx context.Context, self, cfgPath string, s clientSpec) (*worker, string, error) {
	spec, _ := json.Marshal(s)
	cmd := exec.CommandContext(ctx, self, "bench", "--client-worker", "--config", cfgPath, "--worker-spec", string(spec))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", err
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	w := &worker{cmd: cmd, in: in, out: bufio.NewReader(outp)}
	line, err := w.out.ReadString('\n')
	if err != nil {
		w.stop()
		return nil, "", fmt.Errorf("client worker %d: %v", s.Index, err)
	}
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "ready ") {
		w.stop()
		return nil, "", fmt.Errorf("client worker %d: %s", s.Index, line)
	}
	return w, strings.TrimPrefix(line, "ready "), nil
}

func (w *worker) stop() {
	w.in.Close()
	done := make(chan struct{})
	go func() { w.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		w.cmd.Process.Kill()
		<-done
	}
}

// statsSum adds up the counters of every server.
func statsSum(ctx context.Context, c *clientlib.Client) map[string]int64 {
	out := map[string]int64{}
	for i := range c.Servers() {
		m, err := c.ServerStats(ctx, i)
		if err != nil {
			continue
		}
		for k, v := range m {
			out[k] += v
		}
	}
	return out
}

// statsNote says which strategies served the point's bytes and any
// fallbacks or pool waits, from the servers' counters.
func statsNote(before, after map[string]int64, dir string) string {
	var parts []string
	var keys []string
	for k := range after {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d := after[k] - before[k]
		if d == 0 {
			continue
		}
		switch {
		case strings.HasPrefix(k, dir+".bytes."):
			parts = append(parts, fmt.Sprintf("served by %s %s", strings.TrimPrefix(k, dir+".bytes."), units.Bytes(d)))
		case strings.HasPrefix(k, "fallback.") || strings.HasPrefix(k, "pool.waits.") || strings.HasPrefix(k, "auto.chose.") || k == "errors":
			parts = append(parts, fmt.Sprintf("%s +%d", k, d))
		}
	}
	return strings.Join(parts, "; ")
}

var errSkip = errors.New("skipped")

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
