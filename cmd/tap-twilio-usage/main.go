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
	"github.com/twilio-elt/twilio-elt/internal/hugeheap"
)

// heapAdvised is how much of the heap's growth hugeheap advises for huge
// pages: more than a read's working heap at max_concurrency 16 (~110 MB),
// and only address space until it is used.
const heapAdvised = 256 << 20

func main() {
	go hugeheap.Prepare(heapAdvised) // a few ms, off the way of the command
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.TapMain(ctx, os.Args[1:], cli.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
