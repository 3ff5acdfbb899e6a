// Package cli is the command line of twilio-elt: the only package that
// reads flags, environment, files and standard streams. Each command
// parses its input, builds the parts it needs and hands over to them.
//
// The commands are one table (commands): a name, a one-line summary, a
// synopsis, an example and the function that runs it. `twilio-elt help`
// lists the table; a command's own help comes from the flag set it
// parses, so it lists exactly the flags the command takes.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/twilio-elt/twilio-elt/connector"
	"github.com/twilio-elt/twilio-elt/internal/protocol"
	"github.com/twilio-elt/twilio-elt/internal/protocol/airbyte"
	"github.com/twilio-elt/twilio-elt/internal/state"
	"github.com/twilio-elt/twilio-elt/internal/twilio"
	"github.com/twilio-elt/twilio-elt/spec"
)

// DocumentationURL is where `spec` points people.
const DocumentationURL = "https://github.com/twilio-elt/twilio-elt#readme"

// IO is what a command may touch of the outside world.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Now            func() time.Time
	// Program is how the program was started (os.Args[0]): commands that
	// print a next command to run spell it the same way.
	Program string
}

// command is one twilio-elt command.
type command struct {
	name    string
	group   string // heading it is listed under in `twilio-elt help`
	summary string // one line: what it does
	usage   string // synopsis after "twilio-elt NAME"
	example string // one or more lines to copy
	run     func(ctx context.Context, args []string, sys IO) int
}

// Groups of commands, in the order `twilio-elt help` lists them.
const (
	groupStart     = "Getting started"
	groupWarehouse = "Warehouse (DuckDB, embedded, the default; or BigQuery)"
	groupAirbyte   = "Airbyte source (Airbyte protocol messages on stdout, nothing else)"
	groupOther     = "Other"
)

var groups = []string{groupStart, groupWarehouse, groupAirbyte, groupOther}

// commands returns every command, in the order help lists them. To add
// one, add an entry here; its run function starts with newFlagSet and
// parseFlags.
func commands() []command {
	return []command{
		{name: "demo", group: groupStart, run: runDemo,
			summary: "Sync a built-in Twilio emulator into a DuckDB file and print a spend summary.",
			usage:   "[--path FILE] [--seed N]",
			example: "twilio-elt demo --path twilio-demo.duckdb"},
		{name: "connect", group: groupStart, run: runConnect,
			summary: "Write a config file for a Twilio account, after testing its credentials.",
			usage:   "[--config FILE] [--account-sid AC…] [--name NAME] [--api-key SK…:SECRET | --auth-token TOKEN]",
			example: "twilio-elt connect --config config.json      # asks for each value on a terminal\n" +
				"TWILIO_API_KEY=SK… TWILIO_API_SECRET=… twilio-elt connect --config config.json --account-sid AC… --name Acme"},
		{name: "sync", group: groupWarehouse, run: runSync,
			summary: "Read Twilio and load it into a warehouse; each sync goes on from the state kept there.",
			usage:   "--config FILE [--config FILE …] [--path FILE | --destination bigquery --project P --dataset D] [--max-requests 64]",
			example: "twilio-elt sync --config config.json --path twilio.duckdb\n" +
				"twilio-elt sync --config prod.json --config staging.json --path twilio.duckdb   # or --config configs/"},
		{name: "load", group: groupWarehouse, run: runLoad,
			summary: "Load Airbyte messages from stdin (or a raw archive) into a warehouse.",
			usage:   "[--path FILE | --destination bigquery --project P --dataset D] [--from-raw DIR] < messages.jsonl",
			example: "twilio-elt read --config config.json --catalog catalog.json | twilio-elt load --path twilio.duckdb\n" +
				"twilio-elt load --path twilio.duckdb --from-raw raw/twilio"},
		{name: "query", group: groupWarehouse, run: runQuery,
			summary: "Run read-only SQL on a DuckDB warehouse and print the result.",
			usage:   "[--path FILE] [--csv | --json] SQL",
			example: `twilio-elt query --path twilio.duckdb "SELECT service_group, SUM(cost) FROM twilio_cost_daily GROUP BY ALL ORDER BY 2 DESC"`},
		{name: "report", group: groupWarehouse, run: runReport,
			summary: "Write an HTML cost report (charts, anomalies, reconciliation) that opens from disk.",
			usage:   "[--path FILE | --destination bigquery --project P --dataset D] [--days 90] [--account AC…] [--out FILE]",
			example: "twilio-elt report --path twilio.duckdb --days 90 --out twilio-report.html"},
		{name: "alerts", group: groupWarehouse, run: runAlerts,
			summary: "Print cost anomalies first detected recently; exit 3 when there are any.",
			usage:   "[--path FILE | --destination bigquery --project P --dataset D] [--since 1d] [--min-severity low|medium|high] [--json]",
			example: "twilio-elt alerts --path twilio.duckdb --since 1d || mail -s 'Twilio cost anomalies' ops@example.com"},
		{name: "rebuild-costs", group: groupWarehouse, run: runRebuildCosts,
			summary: "Recompute the cost tables from the loaded usage, without calling Twilio.",
			usage:   "[--path FILE | --destination bigquery --project P --dataset D]",
			example: "twilio-elt rebuild-costs --path twilio.duckdb"},
		{name: "remove", group: groupWarehouse, run: runRemove,
			summary: "Delete one main account's data (usage, costs, accounts, SIMs, state) from a warehouse.",
			usage:   "--account AC… [--path FILE | --destination bigquery --project P --dataset D] [--yes]",
			example: "twilio-elt remove --account AC0123456789abcdef0123456789abcdef --path twilio.duckdb"},
		{name: "verify", group: groupWarehouse, run: runVerify,
			summary: "Check that the loaded cost adds up to Twilio's totalprice, account by account, day by day.",
			usage:   "[--path FILE | --destination bigquery --project P --dataset D] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--account AC…]",
			example: "twilio-elt verify --path twilio.duckdb --from 2026-01-01 --to 2026-01-31"},
		{name: "spec", group: groupAirbyte, run: airbyteCommand("spec"),
			summary: "Print the connector's configuration schema as an Airbyte SPEC message.",
			usage:   "",
			example: "twilio-elt spec"},
		{name: "check", group: groupAirbyte, run: airbyteCommand("check"),
			summary: "Test a config's credentials against Twilio; answers an Airbyte CONNECTION_STATUS.",
			usage:   "--config FILE",
			example: "twilio-elt check --config config.json"},
		{name: "discover", group: groupAirbyte, run: airbyteCommand("discover"),
			summary: "Print the streams this source reads as an Airbyte CATALOG message.",
			usage:   "--config FILE",
			example: "twilio-elt discover --config config.json"},
		{name: "read", group: groupAirbyte, run: airbyteCommand("read"),
			summary: "Read the selected streams from Twilio as Airbyte RECORD, STATE and TRACE messages.",
			usage:   "--config FILE --catalog FILE [--state FILE]",
			example: "twilio-elt read --config config.json --catalog configured_catalog.json > messages.jsonl"},
		{name: "emulator", group: groupOther, run: runEmulator,
			summary: "Serve a deterministic fake of the Twilio API, for tests and trials.",
			usage:   "[--addr HOST:PORT] [--seed N] [--subaccounts N] [--days N] [--sims N]",
			example: "twilio-elt emulator --addr 127.0.0.1:8080 > config.json &   # first line: a config for it"},
		{name: "version", group: groupOther, run: runVersion,
			summary: "Print the version.",
			usage:   "",
			example: "twilio-elt version"},
		{name: "help", group: groupOther, run: runHelp,
			summary: "Show the commands, or one command's flags and an example.",
			usage:   "[COMMAND]",
			example: "twilio-elt help sync"},
	}
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

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
		writeOverview(sys.Stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help":
		name = "help"
	case "-version", "--version":
		name = "version"
	}
	c, ok := lookup(name)
	if !ok {
		fmt.Fprintf(sys.Stderr, "twilio-elt: unknown command %q; run 'twilio-elt help' for the list\n", name)
		return 2
	}
	return c.run(ctx, rest, sys)
}

// writeOverview lists every command with its summary.
func writeOverview(w io.Writer) {
	fmt.Fprint(w, "twilio-elt moves Twilio usage and cost into a data warehouse.\n\nUsage: twilio-elt COMMAND [flags]\n")
	cmds := commands()
	width := 0
	for _, c := range cmds {
		width = max(width, len(c.name))
	}
	for _, g := range groups {
		fmt.Fprintf(w, "\n%s:\n", g)
		for _, c := range cmds {
			if c.group == g {
				fmt.Fprintf(w, "  %-*s %s\n", width, c.name, c.summary)
			}
		}
	}
	fmt.Fprint(w, "\nRun 'twilio-elt help COMMAND' (or 'twilio-elt COMMAND --help') for its flags and an example.\n")
}

// runHelp: twilio-elt help [COMMAND]. Help asked for goes to stdout.
func runHelp(ctx context.Context, args []string, sys IO) int {
	fs := newFlagSet("help")
	if code, done := parseFlags(fs, args, sys, 1); done {
		return code
	}
	if fs.NArg() == 0 {
		writeOverview(sys.Stdout)
		return 0
	}
	c, ok := lookup(fs.Arg(0))
	if !ok {
		fmt.Fprintf(sys.Stderr, "twilio-elt help: unknown command %q; run 'twilio-elt help' for the list\n", fs.Arg(0))
		return 2
	}
	// A command's help is what its own flag set prints for --help: every
	// run function parses its flags before it does anything else.
	return c.run(ctx, []string{"-help"}, sys)
}

func runVersion(_ context.Context, args []string, sys IO) int {
	fs := newFlagSet("version")
	if code, done := parseFlags(fs, args, sys, 0); done {
		return code
	}
	fmt.Fprintf(sys.Stdout, "twilio-elt %s\n", Version)
	return 0
}

// newFlagSet returns the flag set of command name: parsing -h or -help
// prints the command's help (see parseFlags).
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parseFlags reports errors itself
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args into fs, allowing at most maxArgs arguments
// after the flags. done is true when the command must end with code:
// help was asked for (printed on stdout; 0), or the command line is
// wrong (said on stderr; 2).
func parseFlags(fs *flag.FlagSet, args []string, sys IO, maxArgs int) (code int, done bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		writeHelp(sys.Stdout, fs)
		return 0, true
	case err != nil:
		usageError(sys.Stderr, fs.Name(), err.Error())
		return 2, true
	case fs.NArg() > maxArgs:
		usageError(sys.Stderr, fs.Name(), fmt.Sprintf("unexpected argument %q", fs.Arg(maxArgs)))
		return 2, true
	}
	return 0, false
}

func usageError(w io.Writer, name, problem string) {
	fmt.Fprintf(w, "twilio-elt %s: %s\nRun 'twilio-elt help %s' for its flags.\n", name, problem, name)
}

// writeHelp prints the help of the command whose flag set is fs: its
// summary, synopsis, flags and example.
func writeHelp(w io.Writer, fs *flag.FlagSet) {
	c, _ := lookup(fs.Name())
	fmt.Fprintf(w, "twilio-elt %s: %s\n\nUsage:\n  twilio-elt %s", c.name, c.summary, c.name)
	if c.usage != "" {
		fmt.Fprintf(w, " %s", c.usage)
	}
	fmt.Fprint(w, "\n\nFlags:\n")
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		fmt.Fprint(w, "  (none)\n")
	} else {
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	fmt.Fprint(w, "\nExample:\n")
	for line := range strings.SplitSeq(c.example, "\n") {
		fmt.Fprintf(w, "  %s\n", line)
	}
}

// invocation is how to run twilio-elt again, the way it was started: the
// bare name when it is on PATH, the path it was started by otherwise, and
// `go run ./cmd/twilio-elt` after `go run` (which leaves no binary).
func invocation(program string) string {
	switch {
	case program == "":
		return "twilio-elt"
	case strings.Contains(program, "go-build") && filepath.Base(filepath.Dir(program)) == "exe":
		if _, err := os.Stat(filepath.Join("cmd", "twilio-elt")); err == nil {
			return "go run ./cmd/twilio-elt"
		}
		return "go run github.com/twilio-elt/twilio-elt/cmd/twilio-elt@latest"
	case !strings.ContainsRune(program, filepath.Separator):
		return program
	}
	if onPath, err := execLookPath(filepath.Base(program)); err == nil && sameFile(onPath, program) {
		return filepath.Base(program)
	}
	return program
}

// execLookPath is exec.LookPath, replaced in tests.
var execLookPath = exec.LookPath

func sameFile(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

// startedByGoRun reports whether program is a binary `go run` built.
func startedByGoRun(program string) bool {
	return strings.HasPrefix(invocation(program), "go run ")
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

// airbyteCommand returns the run function of the Airbyte command cmd.
func airbyteCommand(cmd string) func(context.Context, []string, IO) int {
	return func(ctx context.Context, args []string, sys IO) int {
		enlargePipe(sys.Stdout)
		return runAirbyte(ctx, cmd, args, sys)
	}
}

// runAirbyte runs spec, check, discover or read. Their stdout carries
// Airbyte messages only: a wrong command line is a TRACE error there
// (and a line on stderr); only help asked for is plain text on stdout.
func runAirbyte(ctx context.Context, cmd string, args []string, sys IO) int {
	fs := newFlagSet(cmd)
	var configPath, catalogPath, statePath = new(string), new(string), new(string)
	debug := new(bool)
	if cmd != "spec" {
		configPath = fs.String("config", "", "connector config `file` (JSON)")
	}
	if cmd == "read" {
		catalogPath = fs.String("catalog", "", "configured catalog `file` (JSON)")
		statePath = fs.String("state", "", "state `file`: a JSON array of STREAM state messages, as Airbyte passes it")
	}
	if cmd == "check" || cmd == "read" {
		debug = fs.Bool("debug", false, "log DEBUG messages")
	}
	parseErr := fs.Parse(args)
	if errors.Is(parseErr, flag.ErrHelp) {
		writeHelp(sys.Stdout, fs)
		return 0
	}
	if parseErr == nil && fs.NArg() > 0 {
		parseErr = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	// Secrets are known only once the config is read; until then nothing
	// but fixed text is written.
	cfgBytes, cfgReadErr := readFileIf(*configPath)
	var cfg spec.Config
	var cfgErr error
	if cfgReadErr == nil && *configPath != "" {
		cfg, cfgErr = spec.Load(cfgBytes, sys.Now())
		if cfgErr != nil {
			cfg, _ = spec.Parse(cfgBytes) // for the secrets it holds
		}
	}
	w := airbyte.NewWriter(sys.Stdout, cfg.Secrets()...)
	defer w.Flush()
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	a := &airbyteRun{w: w, log: slog.New(airbyte.NewLogHandler(w, level))}

	if parseErr != nil {
		usageError(sys.Stderr, cmd, parseErr.Error())
		return a.fail(protocol.ConfigError, fmt.Sprintf("%s: %v; run 'twilio-elt help %s' for its flags", cmd, parseErr, cmd), parseErr)
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

	api, err := newTwilioClient(cfg, sys.Getenv, a.log)
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
	streams, err := connector.Catalog().ParseConfigured(catBytes)
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
		var credErr *connector.CredentialsError
		if errors.As(err, &cfgErr) && !errors.As(err, &credErr) && !twilio.IsNotFound(err) {
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
	var credErr *connector.CredentialsError
	var baseErr *twilio.BaseURLError
	switch {
	case errors.As(err, &credErr):
		return protocol.ConfigError, credErr.Error()
	case errors.As(err, &baseErr):
		return protocol.ConfigError, baseErr.Error()
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

// newTwilioClient returns a client for cfg. Twilio's edge location and
// processing region come from TWILIO_EDGE and TWILIO_REGION, as in
// Twilio's own libraries.
func newTwilioClient(cfg spec.Config, getenv func(string) string, log *slog.Logger) (*twilio.Client, error) {
	return newSharedTwilioClient(cfg, getenv, log, nil)
}

// newSharedTwilioClient is newTwilioClient whose requests also take a
// slot of shared (nil: none), a cap over several accounts' clients.
func newSharedTwilioClient(cfg spec.Config, getenv func(string) string, log *slog.Logger, shared *twilio.Limit) (*twilio.Client, error) {
	user, pass, _ := cfg.Credentials()
	return twilio.New(twilio.Options{
		Username:       user,
		Password:       pass,
		AccountSID:     cfg.AccountSID,
		BaseURL:        cfg.BaseURL,
		Edge:           getenv("TWILIO_EDGE"),
		Region:         getenv("TWILIO_REGION"),
		MaxConcurrency: cfg.Concurrency(),
		Shared:         shared,
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
