package data

import (
	"bytes"
	"os"
	"testing"
)

// The calibration's copies are real: each way moves the bytes it claims
// to, so a way that did nothing cannot look cheap.
func TestMeasureCopyCosts(t *testing.T) {
	c, err := measureCopyCosts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Log(c)
	for name, d := range map[string]int64{"read pipeline": int64(c.ReadPipeline), "read sendfile": int64(c.ReadSendfile),
		"write pipeline": int64(c.WritePipeline), "write sendfile": int64(c.WriteSendfile)} {
		if d <= 0 {
			t.Errorf("%s: %d ns", name, d)
		}
	}
}

func TestCMACopies(t *testing.T) {
	src, dst := bytes.Repeat([]byte("ferry"), 1000), make([]byte, 5000)
	if err := cma(os.Getpid(), src, dst, true); err != nil || !bytes.Equal(src, dst) {
		t.Fatalf("writev: %v", err)
	}
	back := make([]byte, 5000)
	if err := cma(os.Getpid(), back, dst, false); err != nil || !bytes.Equal(back, src) {
		t.Fatalf("readv: %v", err)
	}
}
