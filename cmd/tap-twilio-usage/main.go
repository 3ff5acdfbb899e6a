// Command tap-twilio-usage is the Singer tap of twilio-elt, for Meltano
// and other Singer runners: the same streams as `twilio-elt read`, as
// Singer SCHEMA, RECORD and STATE messages. See cli.TapMain for its flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/twilio-elt/twilio-elt/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.TapMain(ctx, os.Args[1:], cli.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
