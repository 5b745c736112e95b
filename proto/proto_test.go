package proto

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-hpc/ferry/layout"
)

var testLayout = layout.Layout{StripSize: 1 << 20, Count: 4, First: 1, Total: 4}

const testHandle = "0f8fad5b-d9cb-469f-a165-70867728950e"

func sampleMessages() []Message {
	return []Message{
		&HelloReq{Client: "ferry cp 123", Fabrics: []Fabric{{Provider: "tcp;ofi_rxm", Addr: []byte{9}}}},
		&HelloReq{Client: "c", Auth: AuthKey, UID: 1000, GID: 100, Groups: []uint32{4, 27}, Cred: []byte{1, 2}},
		&Cap{UID: 5, Rights: RightRead | RightWrite, Expiry: 1 << 50, MAC: [CapMACSize]byte{1, 2, 3}},
		&OpenResp{Attr: Attr{Path: "/f", Type: TypeFile, Handle: testHandle, Mode: 0o600, Layout: testLayout},
			Cap: Cap{UID: 5, Rights: RightRead, Expiry: 7}},
		&OpenResp{Attr: Attr{Path: "/d", Type: TypeDir, Mode: 0o755}},
		&RenewReq{Handle: testHandle, Cap: Cap{UID: 1, Rights: RightRemove, Expiry: -1}},
		&HelloResp{ServerID: 1, MetaServer: 0, Servers: []string{"a:1", "b:2"}, DefaultStrip: 1 << 20, Strategy: "auto",
			Fabrics: []Fabric{{Provider: "shm", Addr: []byte{1, 2, 3}}}},
		&HelloResp{ServerID: 0, MetaServer: 0, Servers: []string{"a:1"}, Sockets: []string{"/run/ferry/0.sock"}, Refused: "why", LocalReads: true},
		&Challenge{Nonce: []byte{7, 7}},
		&PathReq{Path: "/a/b"},
		&Attr{Path: "/f", Type: TypeFile, Handle: testHandle, Mode: 0o644, UID: 1, GID: 2, Atime: 3, Mtime: 4, Ctime: 5, Layout: testLayout},
		&Attr{Path: "/d", Type: TypeDir, Mode: 0o755},
		&CreateReq{Path: "/x", Mode: 0o600, Exclusive: true, StripSize: 65536, Count: 2},
		&RenameReq{Old: "/a", New: "/b"},
		&SetAttrReq{Path: "/a", Mask: SetMode, Mode: 0o600},
		&SetAttrReq{Path: "/a", Mask: SetUID | SetGID | SetAtime | SetMtime, UID: 7, GID: 8, Atime: -1, Mtime: 1 << 40},
		&ReaddirPlusResp{Entries: []Attr{{Path: "/d/f", Type: TypeFile, Handle: testHandle, Mode: 0o644, Layout: testLayout},
			{Path: "/d/sub", Type: TypeDir, Mode: 0o755}}, Caps: []Cap{{UID: 3, Rights: RightRead}, {}}, More: true},
		&ReaddirPlusResp{},
		&SizesReq{Files: []DataReq{{Handle: testHandle, Cap: Cap{UID: 9, Rights: RightRead}, Layout: testLayout}}},
		&SizesResp{Sizes: []SizeResp{{LocalSize: 1, LogicalEnd: 2, Mtime: 3}, {}}},
		&StatfsResp{Bytes: 100, Free: 50, Avail: 40, Files: 10, FilesFree: 9},
		&SetMtimeReq{Handle: testHandle, Layout: testLayout, Mtime: -5},
		&ReaddirReq{Path: "/", After: "m", Max: 100},
		&ReaddirResp{Entries: []Dirent{{Name: "a", Type: TypeFile}, {Name: "b", Type: TypeDir}}, More: true},
		&FetchAddReq{Handle: testHandle, Delta: -5},
		&FetchAddReq{Handle: testHandle, Counter: 1 << 63, Delta: 7, Set: true, Make: true},
		&FetchAddReq{Handle: testHandle, Counter: 9, Drop: true},
		&Int{V: 42},
		&IOReq{Handle: testHandle, Layout: testLayout, Transport: RDMA, Provider: "shm", Budget: 1500 * time.Millisecond, Deadline: 1764547200e9, Remote: RemoteBuf{Addr: 4096, Key: 7, Len: 1 << 20},
			Extents: []Extent{{Local: 0, Len: 100, BufOff: 0}, {Local: 1 << 20, Len: 5, BufOff: 100}}},
		&ReadResp{LogicalEnd: 99, Lens: []int64{1, 2}, Strategy: "sockets"},
		&DataReq{Handle: testHandle, Layout: testLayout},
		&SizeResp{LocalSize: 1, LogicalEnd: 2, Mtime: 3},
		&TruncateReq{Handle: testHandle, Layout: testLayout, Size: 77},
		&Stats{Names: []string{"a"}, Values: []int64{1}},
		&ErrorBody{Msg: "boom"},
		&RenameResp{Replaced: true, Attr: Attr{Path: "/f", Type: TypeFile, Handle: testHandle, Layout: testLayout},
			Cap: Cap{Rights: RightRemove, Expiry: 3}},
		&RenameResp{},
		&Empty{},
		&DataListReq{After: testHandle, Max: 100},
		&DataListReq{Max: 1},
		&DataListResp{Files: []Datafile{{Handle: testHandle, Size: 5, Mtime: 6}}, More: true},
		&DataListResp{},
		&FileListReq{After: "/d/f", Max: 10},
		&FileListReq{Max: 10},
		&FileListResp{Files: []Attr{{Path: "/d/f", Type: TypeFile, Handle: testHandle, Mode: 0o644, Layout: testLayout}}, Last: "/d/z", More: true},
		&FileListResp{},
		&HandlesKnownReq{Handles: []string{testHandle, testHandle}},
		&HandlesKnownResp{Known: []bool{true, false}},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		b := Marshal(m)
		got := reflect.New(reflect.TypeOf(m).Elem()).Interface().(Message)
		if err := Unmarshal(b, got); err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		if !reflect.DeepEqual(normalize(m), normalize(got)) {
			t.Errorf("%T: round trip got %+v, want %+v", m, got, m)
		}
		// Every strict prefix is rejected, never a panic.
		for i := 0; i < len(b); i++ {
			m2 := reflect.New(reflect.TypeOf(m).Elem()).Interface().(Message)
			if err := Unmarshal(b[:i], m2); err == nil {
				t.Errorf("%T: prefix of %d/%d bytes accepted", m, i, len(b))
			}
		}
		if err := Unmarshal(append(b, 0), got); !errors.Is(err, ErrMalformed) {
			t.Errorf("%T: trailing byte accepted: %v", m, err)
		}
	}
}

// normalize makes nil and empty slices compare equal.
func normalize(m Message) Message {
	b := Marshal(m)
	return &rawMsg{b}
}

type rawMsg struct{ b []byte }

func (r *rawMsg) encode(e *Encoder) { e.b = append(e.b, r.b...) }
func (r *rawMsg) decode(d *Decoder) {}

func TestHeader(t *testing.T) {
	h := Header{Flags: FlagReply, Op: OpRead, ID: 99, BodyLen: 1234, Status: 2}
	b := AppendHeader(nil, h)
	got, err := ParseHeader(b)
	if err != nil || got != h {
		t.Fatalf("ParseHeader = %+v, %v; want %+v", got, err, h)
	}
	bad := func(mut func([]byte)) []byte { c := append([]byte(nil), b...); mut(c); return c }
	cases := map[string][]byte{
		"short":    b[:10],
		"magic":    bad(func(c []byte) { c[0] ^= 0xff }),
		"opcode":   bad(func(c []byte) { c[6], c[7] = 0xff, 0 }),
		"flags":    bad(func(c []byte) { c[5] = 0x80 }),
		"oversize": bad(func(c []byte) { c[16], c[17], c[18], c[19] = 0xff, 0xff, 0xff, 0x7f }),
	}
	for name, c := range cases {
		if _, err := ParseHeader(c); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	if _, err := ParseHeader(bad(func(c []byte) { c[4] = 9 })); !errors.Is(err, ErrVersion) {
		t.Errorf("version: err = %v, want ErrVersion", err)
	}
	ctl := Header{Op: OpLookup, BodyLen: MaxControlBody + 1}
	if _, err := ParseHeader(AppendHeader(nil, ctl)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("control body over cap: err = %v", err)
	}
}

func TestFrame(t *testing.T) {
	f := Frame(Header{Op: OpLookup, ID: 5}, &PathReq{Path: "/a"})
	h, err := ReadHeader(bytes.NewReader(f))
	if err != nil || int(h.BodyLen) != len(f)-HeaderSize {
		t.Fatalf("header %+v, %v", h, err)
	}
}

func TestCleanPath(t *testing.T) {
	good := map[string]string{"/": "/", "/a": "/a", "/a/b/": "/a/b", "ferry:/x/y": "/x/y"}
	for in, want := range good {
		if got, err := CleanPath(in); err != nil || got != want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "a", "/a/../b", "/./a", "//a", "/a//b", "/a\x00b", "/" + string(bytes.Repeat([]byte("x"), 256))} {
		if _, err := CleanPath(in); err == nil {
			t.Errorf("CleanPath(%q) accepted", in)
		}
	}
	// Too long is ENAMETOOLONG, as a file system says it.
	for _, in := range []string{"/" + strings.Repeat("x", MaxName+1), "/a" + strings.Repeat("/b", MaxPath/2)} {
		if _, err := CleanPath(in); !errors.Is(err, syscall.ENAMETOOLONG) {
			t.Errorf("CleanPath of %d bytes: %v, want ENAMETOOLONG", len(in), err)
		}
	}
}

func TestIOReqChecks(t *testing.T) {
	base := IOReq{Handle: testHandle, Layout: testLayout, Transport: RDMA, Remote: RemoteBuf{Len: 100}}
	cases := map[string]IOReq{}
	w := base
	w.Extents = []Extent{{Local: 0, Len: 50, BufOff: 60}}
	cases["outside window"] = w
	n := base
	n.Extents = []Extent{{Local: -1, Len: 5}}
	cases["negative offset"] = n
	h := base
	h.Handle = "../../etc/passwd"
	cases["hostile handle"] = h
	big := base
	big.Transport = Inline
	big.Extents = []Extent{{Local: 0, Len: MaxIOBytes}, {Local: MaxIOBytes, Len: 1}}
	cases["oversize"] = big
	for name, m := range cases {
		var got IOReq
		if err := Unmarshal(Marshal(&m), &got); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestDataFrame(t *testing.T) {
	req := &IOReq{Handle: testHandle, Layout: testLayout, Extents: []Extent{{Local: 0, Len: 3}}}
	f := AppendDataFrame(nil, Header{Op: OpWrite, ID: 1}, req, 3)
	f = append(f, "abc"...)
	h, err := ParseHeader(f)
	if err != nil || int(h.BodyLen) != len(f)-HeaderSize {
		t.Fatalf("data frame header %+v, %v", h, err)
	}
	body := bytes.NewReader(f[HeaderSize:])
	ctl, data, err := ReadDataControl(body, h)
	if err != nil || data != 3 {
		t.Fatalf("ReadDataControl: %d data bytes, %v", data, err)
	}
	var got IOReq
	if err := Unmarshal(ctl, &got); err != nil || got.Total() != 3 {
		t.Fatalf("got %+v, %v", got, err)
	}
	if rest, _ := io.ReadAll(body); string(rest) != "abc" {
		t.Fatalf("data after the control part: %q", rest)
	}
	bad := Header{Op: OpWrite, BodyLen: 10}
	if _, _, err := ReadDataControl(bytes.NewReader([]byte{0xff, 0xff, 0, 0, 1, 2, 3, 4, 5, 6}), bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("control length past the body: %v, want ErrMalformed", err)
	}
	if _, _, err := ReadDataControl(bytes.NewReader([]byte{1, 0}), bad); err == nil {
		t.Error("truncated control length accepted")
	}
}

func TestCheckStrategy(t *testing.T) {
	for _, n := range append(StrategyNames(), "") {
		if err := CheckStrategy(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	err := CheckStrategy("fast")
	if !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "pipeline") {
		t.Errorf("unknown strategy: %v, want EINVAL listing the valid names", err)
	}
}

func TestPosixMessageChecks(t *testing.T) {
	cases := map[string]Message{
		"entries in two directories": &ReaddirPlusResp{Entries: []Attr{{Path: "/a/x", Type: TypeDir}, {Path: "/b/y", Type: TypeDir}}},
		"root as an entry":           &ReaddirPlusResp{Entries: []Attr{{Path: "/", Type: TypeDir}}},
		"free above total":           &StatfsResp{Bytes: 1, Free: 2},
		"free inodes above total":    &StatfsResp{Files: 1, FilesFree: 2},
		"unknown setattr bit":        &SetAttrReq{Path: "/a", Mask: 1 << 9},
		"hostile handle in sizes":    &SizesReq{Files: []DataReq{{Handle: "../../etc/passwd", Layout: testLayout}}},
	}
	for name, m := range cases {
		got := reflect.New(reflect.TypeOf(m).Elem()).Interface().(Message)
		if err := Unmarshal(Marshal(m), got); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

// Names must be UTF-8: a path that is not is refused as EINVAL, by the
// decoder of every message that carries one.
func TestInvalidUTF8Path(t *testing.T) {
	if _, err := CleanPath("/ok/\xff\xfe"); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("CleanPath of invalid UTF-8: %v, want EINVAL", err)
	}
	if _, err := CleanPath("/naïve/日本"); err != nil {
		t.Fatalf("CleanPath of valid UTF-8: %v", err)
	}
	for _, m := range []Message{&PathReq{Path: "/a\xc3"}, &CreateReq{Path: "/\x80"}, &RenameReq{Old: "/a", New: "/b\xff"},
		&FileListReq{After: "/\xff", Max: 1}} {
		err := Unmarshal(Marshal(m), reflect.New(reflect.TypeOf(m).Elem()).Interface().(Message))
		if !errors.Is(err, syscall.EINVAL) || !errors.Is(err, ErrMalformed) {
			t.Errorf("%T with invalid UTF-8: %v, want EINVAL and ErrMalformed", m, err)
		}
	}
}
