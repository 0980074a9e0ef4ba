package abi

import (
	"reflect"
	"testing"
)

func TestPairsRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		pairs [][2]string
	}{
		{"empty", [][2]string{}},
		{"one", [][2]string{{":path", "/"}}},
		{"many", [][2]string{{"a", ""}, {"", "b"}, {"x-long", "value with spaces"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := AppendPairs(nil, tt.pairs)
			if len(b) != PairsSize(tt.pairs) {
				t.Fatalf("size %d, want %d", len(b), PairsSize(tt.pairs))
			}
			got, err := DecodePairs(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.pairs) || (len(got) > 0 && !reflect.DeepEqual(got, tt.pairs)) {
				t.Fatalf("got %q, want %q", got, tt.pairs)
			}
		})
	}
}

func TestDecodePairsMalformed(t *testing.T) {
	for _, b := range [][]byte{{1}, {5, 0, 0, 0}, {1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 'a'}, {0xff, 0xff, 0xff, 0x7f}} {
		if _, err := DecodePairs(b); err == nil {
			t.Fatalf("DecodePairs(%v) = nil error", b)
		}
	}
}

func TestSplitPath(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"request\x00path", []string{"request", "path"}},
		{"request\x00path\x00", []string{"request", "path"}},
		{"plugin_name", []string{"plugin_name"}},
	}
	for _, tt := range tests {
		if got := SplitPath([]byte(tt.in)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
