package protocol

import (
	"log/slog"
	"testing"
)

func TestRedact(t *testing.T) {
	r := NewRedactor("s3cret", "", "tok")
	for _, tc := range []struct{ in, want string }{
		{`{"m":"s3cret and tok"}`, `{"m":"********** and **********"}`},
		{`nothing here`, `nothing here`},
		{`s3crets3cret`, `********************`},
	} {
		if got := string(r.Redact([]byte(tc.in))); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
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
