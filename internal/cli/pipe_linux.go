package cli

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// pipeSize is what a command asks of a pipe on its standard output: a
// read writes hundreds of megabytes, and Linux's default pipe of 64 KiB
// makes every 1 MiB flush wait on a dozen reads by the other side.
const pipeSize = 1 << 20

// enlargePipe grows w's pipe to pipeSize when w is a pipe. Linux caps it
// for unprivileged processes at /proc/sys/fs/pipe-max-size (1 MiB by
// default); any refusal leaves the pipe as it was.
func enlargePipe(w io.Writer) {
	f, ok := w.(*os.File)
	if !ok {
		return
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return
	}
	if size, err := unix.FcntlInt(f.Fd(), unix.F_GETPIPE_SZ, 0); err == nil && size < pipeSize {
		unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, pipeSize)
	}
}
