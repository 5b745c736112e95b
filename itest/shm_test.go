package itest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/clientlib"
	"github.com/ferry-hpc/ferry/internal/testcluster"
	"github.com/ferry-hpc/ferry/internal/testenv"
)

// shmClientConfig names the config of the test binary run as
// FERRY_ITEST_CHILD=shmclient: a client process that mounts it with the
// shm provider, says READY and waits to be killed, never closing its
// endpoint.
const shmClientConfig = "FERRY_ITEST_SHM_CONFIG"

func childShmClient() int {
	c, err := clientlib.Mount(context.Background(), os.Getenv(shmClientConfig), clientlib.Options{Provider: "shm"})
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	f, err := c.Create(context.Background(), "/child", clientlib.CreateOptions{})
	if err == nil {
		_, err = f.WriteAt(make([]byte, 1<<20), 0) // by RMA: the endpoint is in use
	}
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	fmt.Println("READY")
	time.Sleep(time.Hour)
	return 0
}

// A client killed with -9 leaves its shm region in /dev/shm; a server
// starting removes it (and, in the verbs tests, a new client does).
func TestKilledClientShmRemovedAtServerStart(t *testing.T) {
	cl := testcluster.Start(t, testcluster.Options{Servers: 2})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FERRY_ITEST_CHILD=shmclient", shmClientConfig+"="+cl.ConfigPath)
	cmd.Stderr = os.Stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.Contains(line, "not supported") {
		testenv.SkipOrFail(t, "shm client: %s", line)
	}
	if strings.TrimSpace(line) != "READY" {
		t.Fatalf("client child said %q", line)
	}
	pid := cmd.Process.Pid
	regions := func() []string {
		m, _ := filepath.Glob(fmt.Sprintf("/dev/shm/%d:*", pid))
		return m
	}
	if len(regions()) == 0 {
		t.Fatalf("client %d has no shm region", pid)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if len(regions()) == 0 {
		t.Fatal("the killed client's region vanished by itself; nothing to test")
	}
	cl.Stop(1)
	cl.StartServer(1)
	if r := regions(); len(r) != 0 {
		t.Fatalf("regions of dead client %s left after a server started: %v", strconv.Itoa(pid), r)
	}
}
