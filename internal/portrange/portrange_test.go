package portrange

import "testing"

func TestParse(t *testing.T) {
	for in, want := range map[string]Range{"": {}, "7100": {7100, 7100}, "7100-7115": {7100, 7115}, " 1 - 2 ": {1, 2}} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
		if again, _ := Parse(got.String()); again != got {
			t.Errorf("%v does not survive String: %v", got, again)
		}
	}
	for _, in := range []string{"x", "0", "7-6", "9-2", "1-70000", "-5", "5-"} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) accepted", in)
		}
	}
}
