package protocol

import (
	"bytes"
	"log/slog"
)

// Redacted is what a secret becomes in any output.
const Redacted = "**********"

// Redactor replaces secrets in encoded output. Every writer passes each
// line through one, so a secret never reaches stdout or stderr whatever
// message carries it.
type Redactor struct{ secrets [][]byte }

// NewRedactor returns a Redactor for secrets; empty ones are ignored.
func NewRedactor(secrets ...string) Redactor {
	var r Redactor
	for _, s := range secrets {
		if s != "" {
			r.secrets = append(r.secrets, []byte(s))
		}
	}
	return r
}

// Redact returns line with every secret replaced by Redacted. It returns
// line itself when there is none.
func (r Redactor) Redact(line []byte) []byte {
	for _, s := range r.secrets {
		if bytes.Contains(line, s) {
			line = bytes.ReplaceAll(line, s, []byte(Redacted))
		}
	}
	return line
}

// LevelName names a log level the way both protocols do: ERROR, WARN,
// INFO or DEBUG.
func LevelName(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARN"
	case l >= slog.LevelInfo:
		return "INFO"
	default:
		return "DEBUG"
	}
}
