package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/internal/protocol"
	"github.com/twilio-elt/twilio-elt/internal/protocol/airbyte"
	"github.com/twilio-elt/twilio-elt/internal/protocol/singer"
	"github.com/twilio-elt/twilio-elt/internal/state"
	"github.com/twilio-elt/twilio-elt/spec"
)

// The Singer tap's identity.
const (
	TapName = "tap-twilio-usage"
	// TapEnvPrefix prefixes the environment variable of every setting:
	// TAP_TWILIO_USAGE_ACCOUNT_SID sets account_sid.
	TapEnvPrefix   = "TAP_TWILIO_USAGE_"
	TapDescription = "Twilio usage and cost: accounts, daily usage records per account and category, SIMs and daily SIM usage, read incrementally per account and SIM."
)

// TapCapabilities are the Singer capabilities the tap declares.
var TapCapabilities = []string{"about", "catalog", "discover", "state"}

const tapUsage = `tap-twilio-usage: the Singer tap of twilio-elt (Twilio usage and cost), for Meltano.

Usage:
  tap-twilio-usage --config config.json --discover > catalog.json
  tap-twilio-usage --config config.json [--catalog catalog.json] [--state state.json]
  tap-twilio-usage --about [--format json|markdown]
  tap-twilio-usage --version

--config may be repeated; a later file overrides an earlier one. Every setting
may also come from an environment variable TAP_TWILIO_USAGE_<SETTING>, e.g.
TAP_TWILIO_USAGE_AUTH_TOKEN, which overrides the files. Without a catalog every
stream is read. Singer messages go to stdout, logs to stderr. --state takes a
Singer state, {"bookmarks": …}.

Example:
  meltano run tap-twilio-usage target-jsonl     # or by hand:
  tap-twilio-usage --config config.json --state state.json > messages.jsonl

Flags:
`

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ", ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// TapMain runs tap-twilio-usage with args (without the program name) and
// returns the process exit code.
func TapMain(ctx context.Context, args []string, sys IO) int {
	if sys.Now == nil {
		sys.Now = time.Now
	}
	if sys.Getenv == nil {
		sys.Getenv = os.Getenv
	}
	fs := flag.NewFlagSet(TapName, flag.ContinueOnError)
	fs.SetOutput(sys.Stderr)
	var configs stringList
	fs.Var(&configs, "config", "config `file` (JSON); repeatable, later files override earlier ones")
	discover := fs.Bool("discover", false, "print the Singer catalog of every stream and exit")
	catalogPath := fs.String("catalog", "", "Singer catalog `file` selecting the streams to read")
	propertiesPath := fs.String("properties", "", "legacy name of --catalog")
	statePath := fs.String("state", "", "Singer state `file` to resume from: {\"bookmarks\": {…}}")
	about := fs.Bool("about", false, "describe the tap: version, capabilities, settings")
	format := fs.String("format", "markdown", "format of --about: json or markdown")
	version := fs.Bool("version", false, "print the version and exit")
	debug := fs.Bool("debug", false, "log DEBUG messages")
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			// Help asked for goes to stdout; nothing else but Singer
			// messages ever does.
			fmt.Fprint(sys.Stdout, tapUsage)
			fs.SetOutput(sys.Stdout)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(sys.Stderr, "%s: %v; see --help\n", TapName, err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(sys.Stderr, "%s: unexpected argument %q; see --help\n", TapName, fs.Arg(0))
		return 2
	}
	switch {
	case *version:
		fmt.Fprintf(sys.Stdout, "%s %s\n", TapName, Version)
		return 0
	case *about:
		return tapAbout(sys, *format)
	}

	tc, loadErr := loadTapConfig(configs, sys.Getenv)
	// Until the selected streams are known, this writer only logs.
	w := singer.NewWriter(sys.Stdout, sys.Stderr, nil, nil, tc.secrets...)
	fail := func(format string, args ...any) int {
		w.Write(protocol.Error{Message: fmt.Sprintf(format, args...), Failure: protocol.ConfigError})
		return 1
	}
	if loadErr != nil {
		return fail("%s", oneLine(loadErr))
	}
	if len(tc.raw) == 0 && !*discover {
		return fail("--config is required (or %s<SETTING> environment variables); see --about for the settings", TapEnvPrefix)
	}
	var cfg spec.Config
	if len(tc.raw) > 0 {
		var err error
		if cfg, err = tc.validate(sys.Now()); err != nil {
			return fail("%s", err.Error())
		}
		w = singer.NewWriter(sys.Stdout, sys.Stderr, nil, nil, append(tc.secrets, cfg.Secrets()...)...)
	}
	if *discover {
		cat, err := singer.Discover(connector.Catalog())
		if err != nil {
			return fail("discover: %v", err)
		}
		fmt.Fprintf(sys.Stdout, "%s\n", cat)
		return 0
	}

	// Streams: from the catalog, else all of them.
	sels := singer.All(connector.Catalog())
	catFile := *catalogPath
	switch {
	case catFile != "" && *propertiesPath != "" && catFile != *propertiesPath:
		return fail("give --catalog or the legacy --properties, not both")
	case catFile == "":
		catFile = *propertiesPath
	}
	if catFile != "" {
		b, err := os.ReadFile(catFile)
		if err != nil {
			return fail("cannot read catalog file %s: %v", catFile, err)
		}
		if sels, err = singer.ParseCatalog(b, connector.Catalog()); err != nil {
			return fail("catalog file %s is invalid: %s", catFile, oneLine(err))
		}
	}

	// State: Singer bookmarks in, the connector's per-stream blobs out.
	bookmarks := state.Bookmarks{}
	blobs := state.Blobs{}
	if *statePath != "" {
		b, err := os.ReadFile(*statePath)
		if err != nil {
			return fail("cannot read state file %s: %v", *statePath, err)
		}
		if bookmarks, err = state.DecodeSinger(b); err != nil {
			return fail("state file %s is invalid: %s", *statePath, oneLine(err))
		}
		var errs []error
		for _, sel := range sels {
			s := sel.Stream
			b, ok := bookmarks[s.Name]
			if !ok || s.Cursor == "" || sel.SyncMode != catalog.Incremental {
				continue
			}
			st, err := state.FromSinger(b, s.PartitionKey, s.Cursor)
			if err != nil {
				errs = append(errs, fmt.Errorf("bookmarks.%s: %w", s.Name, err))
				continue
			}
			blobs[s.Name] = st.Airbyte()
		}
		if err := errors.Join(errs...); err != nil {
			return fail("state file %s is invalid: %s", *statePath, oneLine(err))
		}
	}

	enlargePipe(sys.Stdout)
	w = singer.NewWriter(sys.Stdout, sys.Stderr, sels, bookmarks, append(tc.secrets, cfg.Secrets()...)...)
	defer w.Flush()
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(airbyte.NewLogHandler(w, level))
	api, err := newTwilioClient(cfg, sys.Getenv, log)
	if err != nil {
		return fail("%s", err.Error())
	}
	conn := connector.New(cfg, api, log)
	conn.SetClock(sys.Now)
	err = conn.Read(ctx, singer.Configured(sels), blobs, w)
	stats := api.Stats()
	log.Info("sync finished", "requests", stats.Requests, "retries", stats.Retries, "rate_limit_waits", stats.RateLimitWaits)
	if err != nil {
		var cfgErr *connector.ConfigError
		if errors.As(err, &cfgErr) {
			return fail("catalog file %s or state file %s does not fit this tap: %s",
				orNone(catFile), orNone(*statePath), oneLine(err))
		}
		failure, msg := classify(err)
		w.Write(protocol.Error{Message: msg, Failure: failure})
		return 1
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintf(sys.Stderr, "%s: cannot write to stdout: %v\n", TapName, err)
		return 1
	}
	return 0
}

func orNone(path string) string {
	if path == "" {
		return "(none)"
	}
	return path
}

// setting is one property of the connection specification.
type setting struct {
	Name, Title, Description string
	Type                     string // string, integer or boolean
	Required, Secret         bool
	Default                  json.RawMessage
	Order                    int
}

// EnvVar is the setting's environment variable.
func (s setting) EnvVar() string { return TapEnvPrefix + strings.ToUpper(s.Name) }

// settings returns the properties of spec.ConnectionSpecification in
// their display order.
func settings() []setting {
	var doc struct {
		Required   []string `json:"required"`
		Properties map[string]struct {
			Title       string          `json:"title"`
			Description string          `json:"description"`
			Type        json.RawMessage `json:"type"`
			Secret      bool            `json:"airbyte_secret"`
			Default     json.RawMessage `json:"default"`
			Order       int             `json:"order"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(spec.ConnectionSpecification(), &doc); err != nil {
		panic(fmt.Sprintf("the connection specification is not JSON: %v", err)) // embedded, tested in spec
	}
	var out []setting
	for name, p := range doc.Properties {
		var types []string
		if json.Unmarshal(p.Type, &types) != nil {
			var one string
			json.Unmarshal(p.Type, &one)
			types = []string{one}
		}
		typ := "string"
		for _, t := range types {
			if t != "null" {
				typ = t
			}
		}
		out = append(out, setting{
			Name: name, Title: p.Title, Description: p.Description, Type: typ,
			Required: slices.Contains(doc.Required, name), Secret: p.Secret, Default: p.Default, Order: p.Order,
		})
	}
	slices.SortFunc(out, func(a, b setting) int {
		if a.Order != b.Order {
			return a.Order - b.Order
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// tapConfig is the tap's configuration merged from files and environment,
// with where each setting came from.
type tapConfig struct {
	raw     map[string]json.RawMessage
	source  map[string]string // setting → "config file x.json" or "environment variable TAP_…"
	origins []string          // every file and variable used, in order
	secrets []string          // secret values seen, for redaction
}

// loadTapConfig merges the config files in order, then the TAP_TWILIO_USAGE_*
// environment variables over them, as the Meltano SDK does with
// --config ENV. The file name "ENV" is that SDK convention and reads
// nothing: the environment is always read.
func loadTapConfig(files []string, getenv func(string) string) (tapConfig, error) {
	tc := tapConfig{raw: map[string]json.RawMessage{}, source: map[string]string{}}
	secret := map[string]bool{}
	for _, s := range settings() {
		secret[s.Name] = s.Secret
	}
	var errs []error
	for _, f := range files {
		if f == "ENV" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot read config file %s: %v", f, err))
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
			errs = append(errs, fmt.Errorf("config file %s is not a JSON object", f))
			continue
		}
		tc.origins = append(tc.origins, "config file "+f)
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			tc.raw[k] = obj[k]
			tc.source[k] = "config file " + f
			var s string
			if secret[k] && json.Unmarshal(obj[k], &s) == nil && s != "" {
				tc.secrets = append(tc.secrets, s)
			}
		}
	}
	for _, s := range settings() {
		v := getenv(s.EnvVar())
		if v == "" {
			continue
		}
		if s.Secret {
			tc.secrets = append(tc.secrets, v)
		}
		var val any = v
		switch s.Type {
		case "integer":
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				errs = append(errs, fmt.Errorf("environment variable %s: must be an integer", s.EnvVar()))
				continue
			}
			val = n
		case "boolean":
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				errs = append(errs, fmt.Errorf("environment variable %s: must be true or false", s.EnvVar()))
				continue
			}
			val = b
		}
		enc, _ := json.Marshal(val)
		tc.raw[s.Name] = enc
		tc.source[s.Name] = "environment variable " + s.EnvVar()
		tc.origins = append(tc.origins, "environment variable "+s.EnvVar())
	}
	return tc, errors.Join(errs...)
}

// validate runs Parse, SetDefaults and Validate on the merged config.
// Its error names every problem, each with the file or variable that set
// the setting.
func (tc tapConfig) validate(now time.Time) (spec.Config, error) {
	merged, err := json.Marshal(tc.raw)
	if err != nil {
		return spec.Config{}, err
	}
	cfg, err := spec.Load(merged, now)
	if err == nil {
		return cfg, nil
	}
	var lines []string
	for _, line := range strings.Split(err.Error(), "\n") {
		key, _, _ := strings.Cut(line, ":")
		if src, ok := tc.source[key]; ok {
			line += " (set in " + src + ")"
		}
		lines = append(lines, line)
	}
	return spec.Config{}, fmt.Errorf("the config from %s is invalid: %s", strings.Join(tc.origins, ", "), strings.Join(lines, "; "))
}

// tapAbout prints the tap's description in format.
func tapAbout(sys IO, format string) int {
	switch format {
	case "json":
		doc := struct {
			Name         string          `json:"name"`
			Description  string          `json:"description"`
			Version      string          `json:"version"`
			Capabilities []string        `json:"capabilities"`
			EnvVarPrefix string          `json:"env_var_prefix"`
			Settings     json.RawMessage `json:"settings"`
		}{TapName, TapDescription, Version, TapCapabilities, TapEnvPrefix, spec.ConnectionSpecification()}
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			fmt.Fprintf(sys.Stderr, "%s: %v\n", TapName, err)
			return 1
		}
		fmt.Fprintf(sys.Stdout, "%s\n", b)
		return 0
	case "markdown", "md":
		writeAboutMarkdown(sys.Stdout)
		return 0
	default:
		fmt.Fprintf(sys.Stderr, "%s: --format %q is not supported; use json or markdown\n", TapName, format)
		return 2
	}
}

func writeAboutMarkdown(out io.Writer) {
	fmt.Fprintf(out, "# %s\n\n%s\n\nVersion: %s\n\n## Capabilities\n\n", TapName, TapDescription, Version)
	for _, c := range TapCapabilities {
		fmt.Fprintf(out, "- `%s`\n", c)
	}
	fmt.Fprintf(out, "\n## Settings\n\n| Setting | Type | Required | Default | Environment variable | Description |\n|---|---|---|---|---|---|\n")
	for _, s := range settings() {
		req := "no"
		if s.Required {
			req = "yes"
		}
		def := ""
		if len(s.Default) > 0 {
			def = "`" + string(s.Default) + "`"
		}
		desc := strings.ReplaceAll(s.Description, "|", `\|`)
		if s.Secret {
			desc += " Secret: never logged."
		}
		fmt.Fprintf(out, "| `%s` | %s | %s | %s | `%s` | %s |\n", s.Name, s.Type, req, def, s.EnvVar(), desc)
	}
	fmt.Fprintf(out, "\nGive credentials as one of `api_key_sid` + `api_key_secret`, `api_credentials`, or `auth_token`. "+
		"Environment variables override the config files; a later --config file overrides an earlier one.\n")
}
