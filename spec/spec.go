// Package spec is the connector's configuration: the Config type, the JSON
// Schema that `spec` prints as the connectionSpecification, and the
// Parse → SetDefaults → Validate sequence that turns user input into a
// Config the rest of the program can trust.
//
// Every problem in a config is reported at once, each naming its field, so
// a person fixes a config in one round trip.
package spec

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

//go:embed connection_specification.json
var connectionSpecification []byte

// ConnectionSpecification returns the JSON Schema of the configuration, as
// `spec` prints it in connectionSpecification.
func ConnectionSpecification() json.RawMessage {
	return slices.Clone(connectionSpecification)
}

// Defaults and limits of the numeric settings.
const (
	DefaultLookbackDays   = 3
	MaxLookbackDays       = 90
	DefaultMaxConcurrency = 8
	MaxMaxConcurrency     = 64
	// DefaultHistoryMonths is how far back start_date goes when it is unset.
	DefaultHistoryMonths = 13
)

// DateLayout is the layout of start_date: a UTC calendar date.
const DateLayout = "2006-01-02"

// Config is a validated connector configuration.
type Config struct {
	AccountSID         string `json:"account_sid"`
	AccountName        string `json:"account_name,omitempty"`
	APIKeySID          string `json:"api_key_sid,omitempty"`
	APIKeySecret       string `json:"api_key_secret,omitempty"`
	APICredentials     string `json:"api_credentials,omitempty"`
	AuthToken          string `json:"auth_token,omitempty"`
	StartDate          string `json:"start_date,omitempty"`
	LookbackDays       *int   `json:"lookback_days,omitempty"`
	IncludeSubaccounts *bool  `json:"include_subaccounts,omitempty"`
	MaxConcurrency     *int   `json:"max_concurrency,omitempty"`
	BaseURL            string `json:"base_url,omitempty"`
}

// fields lists every key Parse accepts, with a pointer getter into Config.
var fields = map[string]func(*Config) any{
	"account_sid":         func(c *Config) any { return &c.AccountSID },
	"account_name":        func(c *Config) any { return &c.AccountName },
	"api_key_sid":         func(c *Config) any { return &c.APIKeySID },
	"api_key_secret":      func(c *Config) any { return &c.APIKeySecret },
	"api_credentials":     func(c *Config) any { return &c.APICredentials },
	"auth_token":          func(c *Config) any { return &c.AuthToken },
	"start_date":          func(c *Config) any { return &c.StartDate },
	"lookback_days":       func(c *Config) any { return &c.LookbackDays },
	"include_subaccounts": func(c *Config) any { return &c.IncludeSubaccounts },
	"max_concurrency":     func(c *Config) any { return &c.MaxConcurrency },
	"base_url":            func(c *Config) any { return &c.BaseURL },
}

// FieldError is a problem with one setting of a config. Its text,
// "field: problem", never repeats a value that may be a secret.
type FieldError struct {
	Field   string // a setting, or "credentials" for the choice of credential form
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Parse decodes a JSON configuration object. It reports every key that is
// unknown or of the wrong JSON type, all at once, each as a *FieldError,
// and returns the settings it could decode alongside. It does not apply
// defaults or check values: see SetDefaults and Validate.
func Parse(data []byte) (Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return Config{}, fmt.Errorf("config is not a JSON object: %w", err)
	}
	if raw == nil {
		return Config{}, errors.New("config is not a JSON object: got null")
	}
	var c Config
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(raw)) {
		field, ok := fields[key]
		if !ok {
			errs = append(errs, &FieldError{key, "unknown setting"})
			continue
		}
		if string(raw[key]) == "null" {
			continue
		}
		if err := json.Unmarshal(raw[key], field(&c)); err != nil {
			errs = append(errs, &FieldError{key, typeProblem(err)})
		}
	}
	return c, errors.Join(errs...)
}

// typeProblem turns a json type error into words that do not repeat the
// value, which may be a secret.
func typeProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("must be a JSON %s, not a %s", jsonType(te.Type.String()), te.Value)
	}
	return "cannot be decoded"
}

func jsonType(goType string) string {
	switch strings.TrimPrefix(goType, "*") {
	case "int":
		return "integer"
	case "bool":
		return "boolean"
	default:
		return goType
	}
}

// SetDefaults fills every unset optional setting. today is the current
// time; start_date defaults to DefaultHistoryMonths before its UTC date.
func (c *Config) SetDefaults(today time.Time) {
	if c.StartDate == "" {
		d := today.UTC()
		c.StartDate = time.Date(d.Year(), d.Month()-DefaultHistoryMonths, d.Day(), 0, 0, 0, 0, time.UTC).Format(DateLayout)
	}
	if c.LookbackDays == nil {
		c.LookbackDays = ptr(DefaultLookbackDays)
	}
	if c.IncludeSubaccounts == nil {
		c.IncludeSubaccounts = ptr(true)
	}
	if c.MaxConcurrency == nil {
		c.MaxConcurrency = ptr(DefaultMaxConcurrency)
	}
}

func ptr[T any](v T) *T { return &v }

var (
	accountSIDPattern = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	apiKeySIDPattern  = regexp.MustCompile(`^SK[0-9a-fA-F]{32}$`)
	secretPattern     = regexp.MustCompile(`^[0-9A-Za-z]+$`)
)

// Validate checks every setting and reports all problems at once, each
// as a *FieldError. It expects SetDefaults to have run. Error messages
// never contain a secret.
func (c *Config) Validate(today time.Time) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{field, fmt.Sprintf(format, args...)})
	}
	switch {
	case c.AccountSID == "":
		bad("account_sid", "is required")
	case !accountSIDPattern.MatchString(c.AccountSID):
		bad("account_sid", "must be AC followed by 32 hexadecimal digits, as shown in the Twilio Console")
	}

	var forms []string
	if c.APIKeySID != "" || c.APIKeySecret != "" {
		forms = append(forms, "api_key_sid + api_key_secret")
	}
	if c.APICredentials != "" {
		forms = append(forms, "api_credentials")
	}
	if c.AuthToken != "" {
		forms = append(forms, "auth_token")
	}
	switch len(forms) {
	case 0:
		bad("credentials", "give one of api_key_sid + api_key_secret, api_credentials, or auth_token")
	case 1:
	default:
		bad("credentials", "give exactly one form of credentials, got %s", strings.Join(forms, " and "))
	}
	if c.APIKeySID != "" || c.APIKeySecret != "" {
		switch {
		case c.APIKeySID == "":
			bad("api_key_sid", "is required with api_key_secret")
		case !apiKeySIDPattern.MatchString(c.APIKeySID):
			bad("api_key_sid", "must be SK followed by 32 hexadecimal digits")
		}
		switch {
		case c.APIKeySecret == "":
			bad("api_key_secret", "is required with api_key_sid")
		case !secretPattern.MatchString(c.APIKeySecret):
			bad("api_key_secret", "must contain only letters and digits")
		}
	}
	if c.APICredentials != "" {
		sid, secret, ok := strings.Cut(c.APICredentials, ":")
		switch {
		case !ok:
			bad("api_credentials", "must be SKxxxxxxxx:secret (API key SID, a colon, then the secret)")
		case !apiKeySIDPattern.MatchString(sid):
			bad("api_credentials", "must start with an API key SID: SK followed by 32 hexadecimal digits")
		case !secretPattern.MatchString(secret):
			bad("api_credentials", "the secret after the colon must contain only letters and digits")
		}
	}
	if c.AuthToken != "" && !secretPattern.MatchString(c.AuthToken) {
		bad("auth_token", "must contain only letters and digits")
	}

	if start, err := time.Parse(DateLayout, c.StartDate); err != nil {
		bad("start_date", "must be a date as YYYY-MM-DD, got %q", c.StartDate)
	} else if start.After(today.UTC()) {
		bad("start_date", "%s is in the future", c.StartDate)
	}
	if c.LookbackDays != nil && (*c.LookbackDays < 0 || *c.LookbackDays > MaxLookbackDays) {
		bad("lookback_days", "must be between 0 and %d, got %d", MaxLookbackDays, *c.LookbackDays)
	}
	if c.MaxConcurrency != nil && (*c.MaxConcurrency < 1 || *c.MaxConcurrency > MaxMaxConcurrency) {
		bad("max_concurrency", "must be between 1 and %d, got %d", MaxMaxConcurrency, *c.MaxConcurrency)
	}
	if c.BaseURL != "" {
		if problem := originProblem(c.BaseURL); problem != "" {
			bad("base_url", "%s", problem)
		}
	}
	return errors.Join(errs...)
}

func originProblem(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case strings.Contains(raw, "@"):
		return "must not contain credentials"
	case err != nil || u.Host == "":
		return fmt.Sprintf("must be an origin such as http://127.0.0.1:8080, got %q", raw)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("scheme must be http or https, got %q", u.Scheme)
	case u.User != nil:
		return "must not contain credentials"
	case strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "":
		return fmt.Sprintf("must be an origin without a path or query, got %q", raw)
	}
	return ""
}

// Load runs Parse, SetDefaults and Validate and reports the problems of
// all three at once: an unknown key or a value of the wrong type does not
// hide a missing account_sid. A setting Parse could not decode is not
// judged again by Validate (a number given as account_sid is not also
// "required").
func Load(data []byte, today time.Time) (Config, error) {
	c, parseErr := Parse(data)
	var undecoded map[string]bool
	if parseErr != nil {
		undecoded = map[string]bool{}
		for _, err := range unjoin(parseErr) {
			var fe *FieldError
			if !errors.As(err, &fe) {
				return Config{}, parseErr // not a JSON object: nothing to validate
			}
			undecoded[fe.Field] = true
		}
		for _, f := range []string{"api_key_sid", "api_key_secret", "api_credentials", "auth_token"} {
			if undecoded[f] {
				undecoded["credentials"] = true
			}
		}
	}
	c.SetDefaults(today)
	errs := []error{parseErr}
	for _, err := range unjoin(c.Validate(today)) {
		var fe *FieldError
		if errors.As(err, &fe) && undecoded[fe.Field] {
			continue
		}
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// unjoin returns the errors joined in err, or err alone.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// Start returns start_date as a UTC midnight. It is only meaningful on a
// validated Config.
func (c *Config) Start() time.Time {
	t, _ := time.Parse(DateLayout, c.StartDate)
	return t
}

// Lookback returns lookback_days as a count of days.
func (c *Config) Lookback() int { return deref(c.LookbackDays, DefaultLookbackDays) }

// Concurrency returns max_concurrency.
func (c *Config) Concurrency() int { return deref(c.MaxConcurrency, DefaultMaxConcurrency) }

// Subaccounts reports whether subaccounts are read.
func (c *Config) Subaccounts() bool { return deref(c.IncludeSubaccounts, true) }

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// CredentialKind names the form of credentials a Config carries.
type CredentialKind string

const (
	CredentialAuthToken CredentialKind = "auth_token"
	CredentialAPIKey    CredentialKind = "api_key"
)

// Credentials returns the HTTP Basic username and password for Twilio and
// the kind of credential. It is only meaningful on a validated Config.
func (c *Config) Credentials() (username, password string, kind CredentialKind) {
	switch {
	case c.AuthToken != "":
		return c.AccountSID, c.AuthToken, CredentialAuthToken
	case c.APICredentials != "":
		sid, secret, _ := strings.Cut(c.APICredentials, ":")
		return sid, secret, CredentialAPIKey
	default:
		return c.APIKeySID, c.APIKeySecret, CredentialAPIKey
	}
}

// Secrets returns every secret value in the config, for redaction.
func (c *Config) Secrets() []string {
	var out []string
	for _, s := range []string{c.AuthToken, c.APIKeySecret, c.APICredentials} {
		if s != "" {
			out = append(out, s)
		}
	}
	if _, secret, ok := strings.Cut(c.APICredentials, ":"); ok && secret != "" {
		out = append(out, secret)
	}
	return out
}
