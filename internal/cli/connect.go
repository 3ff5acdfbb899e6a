package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/internal/protocol"
	"github.com/twilio-elt/twilio-elt/internal/twilio"
	"github.com/twilio-elt/twilio-elt/spec"
)

// runConnect: twilio-elt connect. On a terminal it asks for what the
// flags and environment do not give (the secret without echo); without
// one, everything must come from flags or environment. It tests the
// credentials, says what they can see, and only then writes the config
// file, readable by its owner alone.
func runConnect(ctx context.Context, args []string, sys IO) int {
	fs := newFlagSet("connect")
	configPath := fs.String("config", "config.json", "config `file` to write (mode 0600)")
	accountSID := fs.String("account-sid", "", "the main account's SID, AC… (default $TWILIO_ACCOUNT_SID)")
	name := fs.String("name", "", "display name of the account in reports (default: Twilio's friendly name)")
	apiKey := fs.String("api-key", "", "API key as `SK…:secret` (default $TWILIO_API_KEY:$TWILIO_API_SECRET); visible to other users in ps: prefer the environment or the prompt")
	authToken := fs.String("auth-token", "", "the account's auth `token` instead of an API key (default $TWILIO_AUTH_TOKEN)")
	baseURL := fs.String("base-url", "", "origin `URL` that replaces https://*.twilio.com: a proxy, or a twilio-elt emulator")
	force := fs.Bool("force", false, "replace the config file if it exists")
	if code, done := parseFlags(fs, args, sys, 0); done {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(sys.Stderr, "twilio-elt connect: "+format+"\n", a...)
		return 1
	}

	tty := terminalIn(sys.Stdin)
	p := prompter{ctx: ctx, in: tty, out: sys.Stderr}
	if _, err := os.Stat(*configPath); err == nil && !*force {
		if tty == nil {
			return fail("%s exists; pass --force to replace it, or --config to write another file", *configPath)
		}
		ok, err := p.yes(fmt.Sprintf("%s exists. Replace it?", *configPath))
		if err != nil {
			return fail("%v", err)
		}
		if !ok {
			return fail("kept %s as it is", *configPath)
		}
	}

	// Flags first, then the environment, then the prompt.
	or := func(v *string, env string) {
		if *v == "" {
			*v = strings.TrimSpace(sys.Getenv(env))
		}
	}
	or(accountSID, "TWILIO_ACCOUNT_SID")
	or(authToken, "TWILIO_AUTH_TOKEN")
	if *apiKey == "" {
		if sid, secret := sys.Getenv("TWILIO_API_KEY"), sys.Getenv("TWILIO_API_SECRET"); sid != "" && secret != "" {
			*apiKey = sid + ":" + secret
		}
	}
	if *apiKey != "" && *authToken != "" {
		return fail("give an API key or an auth token, not both")
	}
	if tty == nil {
		var missing []string
		if *accountSID == "" {
			missing = append(missing, "--account-sid (or TWILIO_ACCOUNT_SID)")
		}
		if *apiKey == "" && *authToken == "" {
			missing = append(missing, "--api-key SK…:secret or --auth-token (or TWILIO_API_KEY and TWILIO_API_SECRET, or TWILIO_AUTH_TOKEN)")
		}
		if len(missing) > 0 {
			return fail("no terminal to ask on, and these are missing: %s", strings.Join(missing, "; "))
		}
	} else {
		fmt.Fprint(sys.Stderr, "Connect a Twilio account. Find the Account SID on the Twilio Console's dashboard;\n"+
			"create an API key under Account → API keys & tokens (a Main key can read subaccounts).\n\n")
		var err error
		if *accountSID == "" {
			if *accountSID, err = p.line("Account SID (AC…): ", validSID); err != nil {
				return fail("%v", err)
			}
		}
		if *name == "" && !flagGiven(fs, "name") {
			if *name, err = p.line("Display name (Enter: Twilio's friendly name): ", nil); err != nil {
				return fail("%v", err)
			}
		}
		if *apiKey == "" && *authToken == "" {
			secret, err := p.secret("API key as SK…:secret, or the auth token (hidden): ")
			if err != nil {
				return fail("%v", err)
			}
			if strings.HasPrefix(secret, "SK") && strings.Contains(secret, ":") {
				*apiKey = secret
			} else {
				*authToken = secret
			}
		}
	}

	doc := connectConfig{AccountSID: *accountSID, AccountName: *name, APICredentials: *apiKey, AuthToken: *authToken, BaseURL: *baseURL}
	raw, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fail("%v", err)
	}
	cfg, err := spec.Load(raw, sys.Now())
	if err != nil {
		return fail("%s", oneLine(err))
	}
	// Whatever is printed from here on, the secrets are not.
	redact := protocol.NewRedactor(cfg.Secrets()...)
	out, errOut := redact.Writer(sys.Stdout), redact.Writer(sys.Stderr)
	log := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelWarn}))

	fmt.Fprintf(errOut, "Testing the connection to %s …\n", cfg.AccountSID)
	api, err := newTwilioClient(cfg, sys.Getenv, log)
	if err != nil {
		return fail("%v", err)
	}
	conn := connector.New(cfg, api, log)
	if err := conn.VerifyCredentials(ctx); err != nil {
		_, msg := classify(err)
		fmt.Fprintf(errOut, "twilio-elt connect: %s\nNothing was written.\n", msg)
		return 1
	}
	seen := describeAccess(ctx, api, cfg)

	if err := writePrivateFile(*configPath, append(raw, '\n')); err != nil {
		return fail("%v", err)
	}
	kind := "the auth token"
	if _, _, k := cfg.Credentials(); k == spec.CredentialAPIKey {
		kind = "an API key"
	}
	fmt.Fprintf(out, "Connected to %s with %s. What these credentials can see:\n", cfg.AccountSID, kind)
	for _, line := range seen {
		fmt.Fprintf(out, "  %s\n", line)
	}
	fmt.Fprintf(out, "Wrote %s (readable by you only: mode 0600).\n\nNext, load your usage and cost into a DuckDB file:\n  %s sync --config %s --path twilio.duckdb\n",
		*configPath, invocation(sys.Program), *configPath)
	return 0
}

// connectConfig is the config file connect writes.
type connectConfig struct {
	AccountSID     string `json:"account_sid"`
	AccountName    string `json:"account_name,omitempty"`
	APICredentials string `json:"api_credentials,omitempty"`
	AuthToken      string `json:"auth_token,omitempty"`
	BaseURL        string `json:"base_url,omitempty"`
}

// describeAccess says, one line per product, what the credentials can
// read: subaccounts, Twilio Wireless SIMs, Super SIMs.
func describeAccess(ctx context.Context, api *twilio.Client, cfg spec.Config) []string {
	var lines []string
	subs := 0
	err := api.Accounts(ctx, func(page []twilio.Account) error {
		for _, a := range page {
			if a.SID != cfg.AccountSID && a.OwnerAccountSID != nil && *a.OwnerAccountSID == cfg.AccountSID {
				subs++
			}
		}
		return nil
	})
	switch {
	case err == nil && subs == 0:
		lines = append(lines, "Subaccounts: none (the main account's usage is read)")
	case err == nil:
		lines = append(lines, fmt.Sprintf("Subaccounts: %d, each read as its own account", subs))
	case twilio.IsUnauthorized(err):
		lines = append(lines, "Subaccounts: not visible (a Standard API key may not read accounts): only the main account's usage is read; "+
			"use a Main key to include subaccounts")
	default:
		lines = append(lines, "Subaccounts: unknown, listing them failed: "+oneLine(err))
	}
	lines = append(lines, sampleLine("Twilio Wireless", "SIMs", func() (twilio.Sample, error) { return api.SampleSIMs(ctx, 50) }, ""))
	lines = append(lines, sampleLine("Super SIM", "Super SIMs", func() (twilio.Sample, error) { return api.SampleSuperSIMs(ctx, 50) },
		" (this version does not read Super SIM usage yet)"))
	return lines
}

func sampleLine(product, items string, sample func() (twilio.Sample, error), note string) string {
	s, err := sample()
	var baseErr *twilio.BaseURLError
	switch {
	case err == nil && s.N == 0:
		return fmt.Sprintf("%s: reachable, no %s", product, items)
	case err == nil && s.More:
		return fmt.Sprintf("%s: %d+ %s%s", product, s.N, items, note)
	case err == nil:
		return fmt.Sprintf("%s: %d %s%s", product, s.N, items, note)
	case twilio.IsUnauthorized(err):
		return fmt.Sprintf("%s: these credentials may not read it (HTTP 401)", product)
	case twilio.IsNotFound(err):
		return fmt.Sprintf("%s: not reachable or unknown here (HTTP 404)", product)
	case errors.As(err, &baseErr), twilio.IsTransient(err):
		return fmt.Sprintf("%s: not reachable (%s)", product, oneLine(err))
	}
	return fmt.Sprintf("%s: unknown (%s)", product, oneLine(err))
}

// writePrivateFile writes data to path, readable and writable by its
// owner only, replacing any file there at once (never half-written).
func writePrivateFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name()) // after the rename, there is nothing to remove
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(data)
	err = errors.Join(err, f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// flagGiven reports whether the command line set flag name.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			given = true
		}
	})
	return given
}

// validSID is spec's judgement of an account SID.
func validSID(s string) error {
	c := spec.Config{AccountSID: s}
	err := c.Validate(c.Start())
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, err := range errs {
		var fe *spec.FieldError
		if errors.As(err, &fe) && fe.Field == "account_sid" {
			return errors.New(fe.Problem)
		}
	}
	return nil
}

// terminalIn returns r as a terminal to ask on, or nil.
func terminalIn(r io.Reader) *os.File {
	f, ok := r.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return f
}

// prompter asks questions on a terminal. An interrupt (the end of ctx)
// while it waits for an answer ends the wait and leaves the terminal as
// it found it.
type prompter struct {
	ctx context.Context
	in  *os.File
	out io.Writer
}

// wait runs read, which blocks on the terminal, until it returns or ctx
// ends; then the terminal's state is restored.
func (p prompter) wait(read func() (string, error)) (string, error) {
	fd := int(p.in.Fd())
	saved, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("read the terminal: %w", err)
	}
	type answer struct {
		s   string
		err error
	}
	done := make(chan answer, 1)
	go func() {
		s, err := read()
		done <- answer{s, err}
	}()
	select {
	case a := <-done:
		return a.s, a.err
	case <-p.ctx.Done():
		term.Restore(fd, saved)
		fmt.Fprintln(p.out)
		return "", fmt.Errorf("interrupted: %w", p.ctx.Err())
	}
}

// line asks for one line; check, when set, must accept it (three tries).
func (p prompter) line(question string, check func(string) error) (string, error) {
	for try := 1; ; try++ {
		fmt.Fprint(p.out, question)
		s, err := p.wait(func() (string, error) { return readLine(p.in) })
		if err != nil {
			return "", err
		}
		if check == nil {
			return s, nil
		}
		err = check(s)
		if err == nil {
			return s, nil
		}
		if try == 3 {
			return "", err
		}
		fmt.Fprintf(p.out, "  %v\n", err)
	}
}

// secret asks for a line without echoing it.
func (p prompter) secret(question string) (string, error) {
	fmt.Fprint(p.out, question)
	s, err := p.wait(func() (string, error) {
		b, err := term.ReadPassword(int(p.in.Fd()))
		fmt.Fprintln(p.out)
		if err != nil {
			return "", fmt.Errorf("read the secret: %w", err)
		}
		return string(b), nil
	})
	if err != nil {
		return "", err
	}
	if s = strings.TrimSpace(s); s == "" {
		return "", errors.New("no API key or auth token given")
	}
	return s, nil
}

func (p prompter) yes(question string) (bool, error) {
	s, err := p.line(question+" [y/N] ", nil)
	return strings.EqualFold(s, "y") || strings.EqualFold(s, "yes"), err
}

// readLine reads one line a byte at a time, so nothing after it is taken
// from the terminal (the secret that follows is read without echo).
func readLine(f *os.File) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := f.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				return strings.TrimSpace(b.String()), nil
			}
			b.WriteByte(buf[0])
		}
		if errors.Is(err, io.EOF) {
			if b.Len() == 0 {
				return "", errors.New("no answer: the input ended")
			}
			return strings.TrimSpace(b.String()), nil
		}
		if err != nil {
			return "", err
		}
	}
}
