// Command twilio-elt moves Twilio usage and cost into a data warehouse.
// See internal/cli for its commands.
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
	code := cli.Main(ctx, os.Args[1:], cli.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
