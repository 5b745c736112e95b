package clientlib

import "testing"

func TestHandleBefore(t *testing.T) {
	for h, want := range map[string]string{
		"0f8fad5b-d9cb-469f-a165-70867728950e": "0f8fad5b-d9cb-469f-a165-70867728950d",
		"0f8fad5b-d9cb-469f-a165-70867728950a": "0f8fad5b-d9cb-469f-a165-708677289509",
		"0f8fad5b-d9cb-469f-a166-000000000000": "0f8fad5b-d9cb-469f-a165-ffffffffffff",
		"00000000-0000-0000-0000-000000000000": "",
	} {
		if got := handleBefore(h); got != want {
			t.Errorf("handleBefore(%s) = %q, want %q", h, got, want)
		}
	}
}
