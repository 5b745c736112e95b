package fusefs

import "testing"

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{`/plain`: "/plain", `/a\040b`: "/a b", `/t\011ab\012nl\134bs`: "/t\tab\nnl\\bs", `/odd\04`: `/odd\04`, `/x\999`: `/x\999`} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMountType(t *testing.T) {
	if _, typ, err := MountType(t.TempDir()); err != nil || typ != "" {
		t.Errorf("a directory: type %q, %v; want none", typ, err)
	}
	if abs, typ, err := MountType("/proc/self/.."); err != nil || abs != "/proc" || typ != "proc" {
		t.Errorf("/proc/self/..: %q type %q, %v; want /proc, proc", abs, typ, err)
	}
}
