package protocol

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRedact(t *testing.T) {
	const long = "Zq9SecretValueXq7" // as long as a real secret: replaced anywhere
	tests := []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{"in JSON", []string{long, "", "tok"}, `{"m":"` + long + ` and tok"}`, `{"m":"********** and **********"}`},
		{"nothing to replace", []string{long, "tok"}, `nothing here`, `nothing here`},
		{"a long secret inside a word", []string{long}, "a" + long + long + "b", "a********************b"},
		{"a short secret alone", []string{"x"}, "x", "**********"},
		{"a short secret inside words is left", []string{"x"}, "hexadecimal 0x1f xx", "hexadecimal 0x1f xx"},
		{"a short secret between symbols", []string{"x"}, `token=x&y;"x"` + "\nx", `token=**********&y;"**********"` + "\n**********"},
		{"a short secret next to a non-ASCII letter is inside a word", []string{"x"}, "éx xé", "éx xé"},
		{"a short secret both inside and alone", []string{"abc"}, "abcd abc dabc (abc)", "abcd ********** dabc (**********)"},
		{"the longer of two nested secrets first", []string{"Secret1234", "SK0123:Secret1234"}, "key SK0123:Secret1234, secret Secret1234", "key **********, secret **********"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRedactor(tt.secrets...)
			if diff := cmp.Diff(tt.want, string(r.Redact([]byte(tt.in)))); diff != "" {
				t.Errorf("Redact(%q) (-want +got):\n%s", tt.in, diff)
			}
			var b bytes.Buffer
			n, err := r.Writer(&b).Write([]byte(tt.in))
			if err != nil || n != len(tt.in) {
				t.Errorf("Writer().Write = %d, %v; want %d, nil", n, err, len(tt.in))
			}
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("Writer() wrote (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLevelName(t *testing.T) {
	for l, want := range map[slog.Level]string{
		slog.LevelDebug: "DEBUG", slog.LevelInfo: "INFO", slog.LevelWarn: "WARN", slog.LevelError: "ERROR", slog.LevelError + 4: "ERROR",
	} {
		if got := LevelName(l); got != want {
			t.Errorf("LevelName(%v) = %s, want %s", l, got, want)
		}
	}
}
