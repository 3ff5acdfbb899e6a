package cli

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestEnlargePipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	before, err := unix.FcntlInt(w.Fd(), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatal(err)
	}
	enlargePipe(w)
	after, err := unix.FcntlInt(w.Fd(), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatal(err)
	}
	limit := pipeSize
	if b, err := os.ReadFile("/proc/sys/fs/pipe-max-size"); err == nil {
		var sysMax int
		if _, err := fmt.Sscan(string(b), &sysMax); err == nil && sysMax < limit {
			limit = sysMax
		}
	}
	if want := max(before, limit); after != want {
		t.Errorf("pipe size %d after enlargePipe, want %d (was %d)", after, want, before)
	}
}
