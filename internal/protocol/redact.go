package protocol

import (
	"bytes"
	"io"
	"log/slog"
	"slices"
)

// Redacted is what a secret becomes in any output.
const Redacted = "**********"

// Redactor replaces secrets in output. Every writer of messages and logs
// passes each line through one, so a secret never reaches stdout or
// stderr whatever carries it.
//
// A secret of minSecretLen characters or more is replaced wherever it
// appears. A shorter one is replaced only where it stands alone, with no
// letter or digit right before or after it: Twilio's auth tokens and API
// key secrets are 32 characters, so a short secret is a test's or a typo,
// and replacing it inside words would mangle every message (a secret "x"
// turned "hexadecimal" into "he**********adecimal").
type Redactor struct{ secrets [][]byte } // longest first

// minSecretLen is the length from which a secret is replaced even inside
// a word.
const minSecretLen = 8

// NewRedactor returns a Redactor for secrets; empty ones are ignored.
func NewRedactor(secrets ...string) Redactor {
	var r Redactor
	for _, s := range secrets {
		if s != "" {
			r.secrets = append(r.secrets, []byte(s))
		}
	}
	// A secret may contain another (an API key SID:secret pair and its
	// secret): the longer goes first, whole.
	slices.SortStableFunc(r.secrets, func(a, b []byte) int { return len(b) - len(a) })
	return r
}

// Redact returns line with every secret replaced by Redacted. It returns
// line itself when there is none.
func (r Redactor) Redact(line []byte) []byte {
	for _, s := range r.secrets {
		if !bytes.Contains(line, s) {
			continue
		}
		if len(s) >= minSecretLen {
			line = bytes.ReplaceAll(line, s, []byte(Redacted))
			continue
		}
		line = replaceAlone(line, s)
	}
	return line
}

// replaceAlone replaces the occurrences of s in line that no letter or
// digit touches.
func replaceAlone(line, s []byte) []byte {
	var out []byte
	done := 0 // line[:done] is in out, or out is nil
	for from := 0; ; {
		i := bytes.Index(line[from:], s)
		if i < 0 {
			break
		}
		i += from
		end := i + len(s)
		if (i > 0 && wordByte(line[i-1])) || (end < len(line) && wordByte(line[end])) {
			from = i + 1
			continue
		}
		out = append(append(out, line[done:i]...), Redacted...)
		done, from = end, end
	}
	if out == nil {
		return line
	}
	return append(out, line[done:]...)
}

// wordByte reports whether b belongs to a word: an ASCII letter or digit,
// or a byte of a multi-byte UTF-8 character.
func wordByte(b byte) bool {
	return b >= 0x80 || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// Writer returns a writer that writes to w what is written to it,
// redacted. Each Write is redacted on its own, so each must carry whole
// lines, as a slog handler's do.
func (r Redactor) Writer(w io.Writer) io.Writer { return redactingWriter{r, w} }

type redactingWriter struct {
	r Redactor
	w io.Writer
}

func (rw redactingWriter) Write(p []byte) (int, error) {
	if _, err := rw.w.Write(rw.r.Redact(p)); err != nil {
		return 0, err
	}
	return len(p), nil
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
