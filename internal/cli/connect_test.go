package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/twilio-elt/twilio-elt/internal/twiliotest"
	"github.com/twilio-elt/twilio-elt/spec"
)

// runEnv runs twilio-elt with args and an environment, no terminal.
func runEnv(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut,
		Getenv: func(k string) string { return env[k] }})
	return out.String(), errOut.String(), code
}

// readConfigFile loads a config file connect wrote, and checks its mode.
func readConfigFile(t *testing.T, path string) spec.Config {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := spec.Load(b, time.Now())
	if err != nil {
		t.Fatalf("connect wrote a config spec rejects: %v\n%s", err, b)
	}
	return cfg
}

func TestConnectWithFlags(t *testing.T) {
	emu := twiliotest.NewTestServer(t, twiliotest.Options{Seed: 1, Subaccounts: 3, Days: 3, SIMs: 4, SuperSIMs: 3})
	keySID, keySecret := emu.MainAPIKey()
	stdSID, stdSecret := emu.StandardAPIKey()
	main := emu.MainAccountSID()
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		say   []string // in stdout
		check func(t *testing.T, cfg spec.Config)
	}{
		{
			name: "Main API key",
			args: []string{"--account-sid", main, "--name", "Acme", "--api-key", keySID + ":" + keySecret},
			say: []string{"Connected to " + main + " with an API key", "Subaccounts: 3, each read as its own account",
				"Twilio Wireless: 4 SIMs", "Super SIM: 3 Super SIMs"},
			check: func(t *testing.T, cfg spec.Config) {
				if cfg.APICredentials != keySID+":"+keySecret || cfg.AccountName != "Acme" || cfg.AuthToken != "" {
					t.Errorf("config = %+v", cfg)
				}
			},
		},
		{
			name: "Standard API key from the environment",
			args: []string{},
			env:  map[string]string{"TWILIO_ACCOUNT_SID": main, "TWILIO_API_KEY": stdSID, "TWILIO_API_SECRET": stdSecret},
			say:  []string{"with an API key", "Subaccounts: not visible (a Standard API key may not read accounts)"},
			check: func(t *testing.T, cfg spec.Config) {
				if cfg.APICredentials != stdSID+":"+stdSecret || cfg.AccountName != "" {
					t.Errorf("config = %+v", cfg)
				}
			},
		},
		{
			name: "auth token",
			args: []string{"--account-sid", main, "--auth-token", emu.AuthToken()},
			say:  []string{"with the auth token", "Subaccounts: 3"},
			check: func(t *testing.T, cfg spec.Config) {
				if cfg.AuthToken != emu.AuthToken() || cfg.APICredentials != "" {
					t.Errorf("config = %+v", cfg)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "twilio.json")
			args := append([]string{"connect", "--config", path, "--base-url", emu.URL()}, tt.args...)
			out, stderr, code := runEnv(t, tt.env, args...)
			if code != 0 {
				t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, stderr)
			}
			for _, s := range tt.say {
				if !strings.Contains(out, s) {
					t.Errorf("stdout does not say %q:\n%s", s, out)
				}
			}
			if want := "\n  twilio-elt sync --config " + path + " --path twilio.duckdb\n"; !strings.HasSuffix(out, want) {
				t.Errorf("stdout does not end with the next command %q:\n%s", want, out)
			}
			for _, secret := range []string{keySecret, stdSecret, emu.AuthToken()} {
				if strings.Contains(out+stderr, secret) {
					t.Errorf("a secret was printed:\n%s\n%s", out, stderr)
				}
			}
			tt.check(t, readConfigFile(t, path))
		})
	}
}

func TestConnectFailsClearlyAndWritesNothing(t *testing.T) {
	emu := twiliotest.NewTestServer(t, twiliotest.Options{Seed: 1, Days: 3})
	main := emu.MainAccountSID()
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.json")
	if err := os.WriteFile(existing, []byte(`{"keep":"me"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		stderr []string
		path   string
	}{
		{"nothing given, no terminal", nil, nil,
			[]string{"no terminal to ask on", "--account-sid (or TWILIO_ACCOUNT_SID)", "--api-key SK…:secret or --auth-token"}, ""},
		{"no secret, no terminal", []string{"--account-sid", main}, nil, []string{"--api-key SK…:secret or --auth-token"}, ""},
		{"wrong secret", []string{"--account-sid", main, "--auth-token", strings.Repeat("f", 32)}, nil,
			[]string{"Twilio rejected the credentials for " + main, "Nothing was written"}, ""},
		{"malformed SID", []string{"--account-sid", "AC123", "--auth-token", "abc"}, nil, []string{"account_sid: must be AC followed by 32"}, ""},
		{"both forms", []string{"--account-sid", main, "--auth-token", "abc"}, map[string]string{"TWILIO_API_KEY": "SK1", "TWILIO_API_SECRET": "x"},
			[]string{"not both"}, ""},
		{"existing file", []string{"--account-sid", main, "--auth-token", emu.AuthToken()}, nil, []string{"existing.json exists; pass --force"}, existing},
		{"nothing answers at base_url", []string{"--account-sid", main, "--auth-token", emu.AuthToken(), "--base-url", "http://127.0.0.1:1"}, nil,
			[]string{"the base_url host 127.0.0.1:1 refused the connection"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = filepath.Join(t.TempDir(), "config.json")
			}
			args := append([]string{"connect", "--config", path, "--base-url", emu.URL()}, tt.args...)
			out, stderr, code := runEnv(t, tt.env, args...)
			if code != 1 || out != "" {
				t.Errorf("exit %d, stdout %q; want 1 and nothing", code, out)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr does not say %q:\n%s", s, stderr)
				}
			}
			if strings.Contains(stderr, strings.Repeat("f", 32)) || strings.Contains(stderr, emu.AuthToken()) {
				t.Errorf("a secret was printed: %s", stderr)
			}
			if tt.path == "" {
				if _, err := os.Stat(path); !os.IsNotExist(err) {
					t.Errorf("a config file was written: %v", err)
				}
			} else if b, _ := os.ReadFile(path); string(b) != `{"keep":"me"}` {
				t.Errorf("the existing file changed: %s", b)
			}
		})
	}
}

// terminal is the other side of a pseudo-terminal a command runs on.
type terminal struct {
	t    *testing.T
	ptmx *os.File
	tty  *os.File
	mu   sync.Mutex
	seen bytes.Buffer // everything the terminal showed
}

func newTerminal(t *testing.T) *terminal {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	term := &terminal{t: t, ptmx: ptmx, tty: tty}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			term.mu.Lock()
			term.seen.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { tty.Close(); ptmx.Close() })
	return term
}

func (term *terminal) shown() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.seen.String()
}

// await waits until the terminal has shown s, and, when hidden, until
// echo is off, as a person waits for the prompt.
func (term *terminal) await(s string, hidden bool) {
	term.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ok := strings.Contains(term.shown(), s)
		if ok && hidden {
			st, err := unix.IoctlGetTermios(int(term.tty.Fd()), unix.TCGETS)
			ok = err == nil && st.Lflag&unix.ECHO == 0
		}
		if ok {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	term.t.Fatalf("the terminal never showed %q (hidden: %v); it shows:\n%s", s, hidden, term.shown())
}

func (term *terminal) answer(s string) {
	if _, err := fmt.Fprint(term.ptmx, s+"\n"); err != nil {
		term.t.Fatal(err)
	}
}

// TestConnectOnATerminal answers connect's prompts as a person would:
// the secret is never shown, the config is written mode 0600.
func TestConnectOnATerminal(t *testing.T) {
	emu := twiliotest.NewTestServer(t, twiliotest.Options{Seed: 1, Subaccounts: 2, Days: 3, SIMs: 1})
	keySID, keySecret := emu.MainAPIKey()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	term := newTerminal(t)
	var out bytes.Buffer
	done := make(chan int)
	go func() {
		done <- Main(context.Background(), []string{"connect", "--config", path, "--base-url", emu.URL()},
			IO{Stdin: term.tty, Stdout: &out, Stderr: term.tty, Getenv: func(string) string { return "" }, Program: "twilio-elt"})
	}()
	term.await("config.json exists. Replace it? [y/N] ", false)
	term.answer("y")
	term.await("Account SID (AC…): ", false)
	term.answer("AC123") // a typo: asked again
	term.await("must be AC followed by 32 hexadecimal digits", false)
	term.answer(emu.MainAccountSID())
	term.await("Display name (Enter: Twilio's friendly name): ", false)
	term.answer("Acme Prod")
	term.await("API key as SK…:secret, or the auth token (hidden): ", true)
	term.answer(keySID + ":" + keySecret)
	var code int
	select {
	case code = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("connect did not finish; the terminal shows:\n%s", term.shown())
	}
	if code != 0 {
		t.Fatalf("exit %d\nterminal:\n%s\nstdout:\n%s", code, term.shown(), out.String())
	}
	if strings.Contains(term.shown(), keySecret) || strings.Contains(out.String(), keySecret) {
		t.Errorf("the secret was shown:\n%s", term.shown())
	}
	if !strings.Contains(term.shown(), emu.MainAccountSID()) {
		t.Errorf("the account SID typed was not echoed:\n%s", term.shown())
	}
	cfg := readConfigFile(t, path)
	if cfg.AccountSID != emu.MainAccountSID() || cfg.AccountName != "Acme Prod" || cfg.APICredentials != keySID+":"+keySecret {
		t.Errorf("config = %+v", cfg)
	}
	if !strings.Contains(out.String(), "Subaccounts: 2") || !strings.Contains(out.String(), "twilio-elt sync --config "+path) {
		t.Errorf("stdout:\n%s", out.String())
	}
	var raw map[string]any
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &raw); err != nil || raw["base_url"] != emu.URL() {
		t.Errorf("config file %s: %v", b, err)
	}
}

// An interrupt at the hidden prompt ends connect at once, writes nothing
// and gives the terminal its echo back.
func TestConnectInterruptedRestoresTheTerminal(t *testing.T) {
	emu := twiliotest.NewTestServer(t, twiliotest.Options{Seed: 1, Days: 3})
	path := filepath.Join(t.TempDir(), "config.json")
	term := newTerminal(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	done := make(chan int)
	go func() {
		done <- Main(ctx, []string{"connect", "--config", path, "--base-url", emu.URL(), "--account-sid", emu.MainAccountSID(), "--name", "x"},
			IO{Stdin: term.tty, Stdout: &out, Stderr: term.tty, Getenv: func(string) string { return "" }})
	}()
	term.await("(hidden): ", true)
	cancel() // what Ctrl-C does: main's signal.NotifyContext ends the context
	select {
	case code := <-done:
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("connect went on waiting for the secret after an interrupt")
	}
	st, err := unix.IoctlGetTermios(int(term.tty.Fd()), unix.TCGETS)
	if err != nil || st.Lflag&unix.ECHO == 0 {
		t.Errorf("the terminal's echo is still off after an interrupt (%v)", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("an interrupted connect wrote %s", path)
	}
}
