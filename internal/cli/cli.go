// Package cli is the command line of twilio-elt: the only package that
// reads flags, environment, files and standard streams. Each command
// parses its input, builds the parts it needs and hands over to them.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/twilio-elt/twilio-elt/catalog"
	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/internal/protocol"
	"github.com/twilio-elt/twilio-elt/internal/protocol/airbyte"
	"github.com/twilio-elt/twilio-elt/internal/state"
	"github.com/twilio-elt/twilio-elt/internal/twilio"
	"github.com/twilio-elt/twilio-elt/spec"
)

// DocumentationURL is where `spec` points people.
const DocumentationURL = "https://github.com/twilio-elt/twilio-elt#readme"

// HeapAdvised is how much heap growth a main should have hugeheap advise
// for huge pages: more than a read's working heap at max_concurrency 16
// (~110 MB; more concurrency, more heap), and only address space until
// it is used.
const HeapAdvised = 256 << 20

// IO is what a command may touch of the outside world.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Now            func() time.Time
}

const usage = `twilio-elt moves Twilio usage and cost into a data warehouse.

Airbyte source commands (Airbyte protocol messages on stdout):
  twilio-elt spec
  twilio-elt check    --config config.json
  twilio-elt discover --config config.json
  twilio-elt read     --config config.json --catalog configured_catalog.json [--state state.json]

Warehouse commands (DuckDB, embedded, the default; or BigQuery):
  twilio-elt load  --destination duckdb --path twilio.duckdb [--keep-zero-rows] [--from-raw DIR]  < messages.jsonl
  twilio-elt load  --destination bigquery --project P --dataset D [--location US] [--endpoint URL] [--staging parquet|ndjson]  < messages.jsonl
  twilio-elt sync  --config config.json [--destination duckdb --path twilio.duckdb | --destination bigquery ...]
  twilio-elt demo  [--path twilio-demo.duckdb]
  twilio-elt verify [--path twilio.duckdb | --destination bigquery ...] [--from YYYY-MM-DD] [--to YYYY-MM-DD]
  twilio-elt report [--path twilio.duckdb | --destination bigquery ...] [--days 90] [--account AC...] [--out twilio-report.html]
  twilio-elt alerts [--path twilio.duckdb | --destination bigquery ...] [--since 1d] [--min-severity low] [--json]   # exit 3: anomalies

Other:
  twilio-elt version
  twilio-elt emulator --addr 127.0.0.1:8080 [--seed 1] [--subaccounts 5] [--days 120] [--sims 20]
`

// Main runs the command in args (without the program name) and returns
// the process exit code.
func Main(ctx context.Context, args []string, sys IO) int {
	if sys.Now == nil {
		sys.Now = time.Now
	}
	if sys.Getenv == nil {
		sys.Getenv = os.Getenv
	}
	if len(args) == 0 {
		fmt.Fprint(sys.Stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "spec", "check", "discover", "read":
		enlargePipe(sys.Stdout)
		return runAirbyte(ctx, cmd, rest, sys)
	case "emulator":
		return runEmulator(ctx, rest, sys)
	case "load":
		return runLoad(ctx, rest, sys)
	case "sync":
		return runSync(ctx, rest, sys)
	case "verify":
		return runVerify(ctx, rest, sys)
	case "demo":
		return runDemo(ctx, rest, sys)
	case "report":
		return runReport(ctx, rest, sys)
	case "alerts":
		return runAlerts(ctx, rest, sys)
	case "version", "--version":
		fmt.Fprintf(sys.Stdout, "twilio-elt %s\n", Version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(sys.Stdout, usage)
		return 0
	default:
		fmt.Fprintf(sys.Stderr, "twilio-elt: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}

// airbyteRun carries one Airbyte command's output side.
type airbyteRun struct {
	w   *airbyte.Writer
	log *slog.Logger
}

// fail ends a command with a TRACE error and exit code 1.
func (a *airbyteRun) fail(failure protocol.FailureType, message string, err error) int {
	e := protocol.Error{Message: message, Failure: failure}
	if err != nil {
		e.Internal = err.Error()
	}
	a.w.Write(e)
	a.w.Flush()
	return 1
}

func runAirbyte(ctx context.Context, cmd string, args []string, sys IO) int {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(sys.Stderr)
	configPath := fs.String("config", "", "connector config `file` (JSON)")
	catalogPath := fs.String("catalog", "", "configured catalog `file` (JSON)")
	statePath := fs.String("state", "", "state `file`: a JSON array of STREAM state messages")
	debug := fs.Bool("debug", false, "log DEBUG messages")
	parseErr := fs.Parse(args)

	// Secrets are known only once the config is read; until then nothing
	// but fixed text is written.
	cfgBytes, cfgReadErr := readFileIf(*configPath)
	var cfg spec.Config
	var cfgErr error
	if cfgReadErr == nil && *configPath != "" {
		cfg, cfgErr = spec.Parse(cfgBytes)
	}
	w := airbyte.NewWriter(sys.Stdout, cfg.Secrets()...)
	defer w.Flush()
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	a := &airbyteRun{w: w, log: slog.New(airbyte.NewLogHandler(w, level))}

	if parseErr != nil {
		return a.fail(protocol.ConfigError, fmt.Sprintf("%s: %v", cmd, parseErr), parseErr)
	}
	if cmd == "spec" {
		w.Write(protocol.Spec{
			DocumentationURL:        DocumentationURL,
			ConnectionSpecification: spec.ConnectionSpecification(),
			SupportsIncremental:     true,
		})
		return 0
	}
	if *configPath == "" {
		return a.fail(protocol.ConfigError, cmd+": --config is required", nil)
	}
	if cfgReadErr != nil {
		return a.fail(protocol.ConfigError, fmt.Sprintf("cannot read config file %s: %v", *configPath, cfgReadErr), cfgReadErr)
	}
	if cfgErr == nil {
		cfg.SetDefaults(sys.Now())
		cfgErr = cfg.Validate(sys.Now())
	}
	if cfgErr != nil {
		msg := fmt.Sprintf("config file %s is invalid: %s", *configPath, oneLine(cfgErr))
		if cmd == "check" {
			// Airbyte expects a failed check as a status, with exit 0.
			w.Write(protocol.ConnectionStatus{Message: msg})
			return 0
		}
		return a.fail(protocol.ConfigError, msg, cfgErr)
	}
	if cmd == "discover" {
		w.Write(connector.Discover())
		return 0
	}

	api, err := newTwilioClient(cfg, a.log)
	if err != nil {
		return a.fail(protocol.ConfigError, err.Error(), err)
	}
	conn := connector.New(cfg, api, a.log)
	conn.SetClock(sys.Now)
	if cmd == "check" {
		w.Write(conn.Check(ctx))
		return 0
	}

	// read
	if *catalogPath == "" {
		return a.fail(protocol.ConfigError, "read: --catalog is required", nil)
	}
	catBytes, err := os.ReadFile(*catalogPath)
	if err != nil {
		return a.fail(protocol.ConfigError, fmt.Sprintf("cannot read catalog file %s: %v", *catalogPath, err), err)
	}
	streams, err := catalog.ParseConfigured(catBytes)
	if err != nil {
		return a.fail(protocol.ConfigError, fmt.Sprintf("catalog file %s is invalid: %s", *catalogPath, oneLine(err)), err)
	}
	blobs := state.Blobs{}
	if *statePath != "" {
		stBytes, err := os.ReadFile(*statePath)
		if err != nil {
			return a.fail(protocol.ConfigError, fmt.Sprintf("cannot read state file %s: %v", *statePath, err), err)
		}
		if blobs, err = state.DecodeAirbyte(stBytes); err != nil {
			return a.fail(protocol.ConfigError, fmt.Sprintf("state file %s is invalid: %s", *statePath, oneLine(err)), err)
		}
	}
	err = conn.Read(ctx, streams, blobs, w)
	stats := api.Stats()
	a.log.Info("read finished", "requests", stats.Requests, "retries", stats.Retries, "rate_limit_waits", stats.RateLimitWaits)
	if err != nil {
		var cfgErr *connector.ConfigError
		if errors.As(err, &cfgErr) {
			stateFile := *statePath
			if stateFile == "" {
				stateFile = "(none)"
			}
			return a.fail(protocol.ConfigError, fmt.Sprintf("catalog file %s or state file %s does not fit this connector: %s",
				*catalogPath, stateFile, oneLine(err)), err)
		}
		failure, msg := classify(err)
		return a.fail(failure, msg, err)
	}
	return 0
}

// classify picks the Airbyte failure type and a message for a failed read.
func classify(err error) (protocol.FailureType, string) {
	var cfgErr *connector.ConfigError
	switch {
	case errors.As(err, &cfgErr):
		return protocol.ConfigError, oneLine(err)
	case errors.Is(err, context.Canceled):
		return protocol.TransientError, "the read was interrupted"
	case twilio.IsUnauthorized(err):
		return protocol.ConfigError, "Twilio rejected the credentials: " + oneLine(err)
	case twilio.IsTransient(err):
		return protocol.TransientError, "Twilio did not answer after retries; run again later: " + oneLine(err)
	default:
		return protocol.SystemError, "the read failed: " + oneLine(err)
	}
}

func newTwilioClient(cfg spec.Config, log *slog.Logger) (*twilio.Client, error) {
	user, pass, _ := cfg.Credentials()
	return twilio.New(twilio.Options{
		Username:       user,
		Password:       pass,
		AccountSID:     cfg.AccountSID,
		BaseURL:        cfg.BaseURL,
		MaxConcurrency: cfg.Concurrency(),
		Logger:         log,
	})
}

func readFileIf(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	return os.ReadFile(path)
}

// oneLine joins a multi-error into one line: "a; b; c".
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}
