package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
)

// appendString's bytes are encoding/json's (what etcd wrote) for every
// string: each escape class, its edges, and random input from the fuzzer.
func FuzzAppendString(f *testing.F) {
	for _, s := range escapeCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got[1:], want)
		}
	})
}

var escapeCases = []string{
	"", "plain", `{"a":[1,2],"b":"c\\d"}`, "<script>&amp;</script>",
	"\x00\x01\x07\b\t\n\v\f\r\x1b\x1f\x20\x7f", "ünïcødé 日本語 🙂",
	"\u2027\u2028\u2029\u202a", "\xff", "a\xffb", "\xe2\x82", "\xe2\x82\xac\xe2",
	"\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", "end\\", `"`, "\ufffd",
	strings.Repeat("é\"<", 100),
}

// A table run of the seed cases (the fuzz target replays them too, but
// this one names a failing case in `go test -run`), and no allocation.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	buf := make([]byte, 0, 4096)
	for _, s := range escapeCases {
		want, _ := json.Marshal(s)
		if got := appendString(buf[:0], s); string(got) != string(want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
	if raceEnabled {
		return
	}
	s := `{"config":"<v>","name":"ünïcødé"}` + "\n\u2028"
	if n := testing.AllocsPerRun(100, func() { buf = appendString(buf[:0], s) }); n != 0 {
		t.Errorf("appendString allocates %v times per call, want 0", n)
	}
}

// BenchmarkAppendString: a plain value, a JSON document, non-ASCII text.
func BenchmarkAppendString(b *testing.B) {
	for _, c := range []struct{ name, s string }{
		{"plain", strings.Repeat("abcdefgh", 32)},
		{"json", strings.Repeat(`{"k":"v","n":[1,2]},`, 13)},
		{"unicode", strings.Repeat("ünïcødé ", 25)},
	} {
		b.Run(c.name, func(b *testing.B) {
			buf := make([]byte, 0, 1024)
			b.SetBytes(int64(len(c.s)))
			b.ReportAllocs()
			for b.Loop() {
				buf = appendString(buf[:0], c.s)
			}
		})
	}
}
