package hugeheap

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

func prepare(size int) bool {
	if size <= 0 || thpMode() != "madvise" || godebugDisablesTHP(os.Getenv("GODEBUG")) {
		return false
	}
	if !adviseFreshHeap(size, hugePageSize()) {
		return false
	}
	runtime.GC() // frees the advised object; its pages go back to the heap
	return true
}

// adviseFreshHeap allocates size bytes and advises their huge-page-aligned
// interior. The object is dead once this returns.
func adviseFreshHeap(size, huge int) bool {
	b := make([]byte, size+huge)
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	off := int((uintptr(huge) - start%uintptr(huge)) % uintptr(huge))
	n := (len(b) - off) / huge * huge
	return unix.Madvise(b[off:off+n], unix.MADV_HUGEPAGE) == nil
}

// thpMode returns the bracketed word of the THP setting, e.g. "madvise"
// from "always [madvise] never", or "" when the kernel has none.
func thpMode() string {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil {
		return ""
	}
	_, rest, ok := bytes.Cut(b, []byte("["))
	if !ok {
		return ""
	}
	mode, _, _ := bytes.Cut(rest, []byte("]"))
	return string(mode)
}

func hugePageSize() int {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			return n
		}
	}
	return 2 << 20
}

// godebugDisablesTHP reports whether GODEBUG asks the runtime to keep its
// heap off huge pages (disablethp=1): Prepare honours that too.
func godebugDisablesTHP(godebug string) bool {
	disabled := false
	for kv := range strings.SplitSeq(godebug, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && k == "disablethp" {
			disabled = v == "1" // the last setting wins, as in the runtime
		}
	}
	return disabled
}
