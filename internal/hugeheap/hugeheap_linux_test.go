package hugeheap

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

func TestPrepareAdvisesTheHeapThatFollows(t *testing.T) {
	if mode := thpMode(); mode != "madvise" {
		t.Skipf("the system's THP mode is %q: Prepare acts only under \"madvise\"", mode)
	}
	if !Prepare(64 << 20) {
		t.Fatal("Prepare did not advise the heap under THP mode madvise")
	}
	if Prepare(64 << 20) {
		t.Error("a second Prepare acted again")
	}
	buf := make([]byte, 16<<20)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	huge := uintptr(hugePageSize())
	start := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	for addr := (start + huge - 1) / huge * huge; addr+huge <= start+uintptr(len(buf)); addr += huge {
		flags, anonHuge, err := mappingOf(addr)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(" "+flags+" ", " hg ") {
			t.Fatalf("the allocation after Prepare, at %#x, is in a mapping not advised for huge pages (VmFlags: %s)", addr, flags)
		}
		if addr == (start+huge-1)/huge*huge {
			t.Logf("mapping of %#x: AnonHugePages %d kB", addr, anonHuge)
		}
	}
}

// mappingOf returns the VmFlags and AnonHugePages (kB) of the mapping of
// this process that holds addr, from /proc/self/smaps.
func mappingOf(addr uintptr) (flags string, anonHugeKB int, err error) {
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return "", 0, err
	}
	in := false
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := addressRange(line); ok {
			in = lo <= addr && addr < hi
			continue
		}
		if !in {
			continue
		}
		if v, ok := strings.CutPrefix(line, "AnonHugePages:"); ok {
			anonHugeKB, _ = strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
		if v, ok := strings.CutPrefix(line, "VmFlags:"); ok {
			return strings.TrimSpace(v), anonHugeKB, nil
		}
	}
	return "", 0, fmt.Errorf("no mapping in /proc/self/smaps holds %#x", addr)
}

// addressRange parses a mapping's header line, "lo-hi perms offset ...".
func addressRange(line string) (lo, hi uintptr, ok bool) {
	field, _, _ := strings.Cut(line, " ")
	l, h, found := strings.Cut(field, "-")
	if !found {
		return 0, 0, false
	}
	a, err1 := strconv.ParseUint(l, 16, 64)
	b, err2 := strconv.ParseUint(h, 16, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uintptr(a), uintptr(b), true
}

func TestGODEBUGDisablethpIsHonoured(t *testing.T) {
	for godebug, want := range map[string]bool{
		"":                           false,
		"disablethp=1":               true,
		"disablethp=0":               false,
		"gctrace=1,disablethp=1":     true,
		"disablethp=1, disablethp=0": false,
		"madvdontneed=1":             false,
		"xdisablethp=1":              false,
	} {
		if got := godebugDisablesTHP(godebug); got != want {
			t.Errorf("godebugDisablesTHP(%q) = %v, want %v", godebug, got, want)
		}
	}
}

func TestPrepareHonoursGODEBUGDisablethp(t *testing.T) {
	if mode := thpMode(); mode != "madvise" {
		t.Skipf("the system's THP mode is %q: Prepare acts only under \"madvise\"", mode)
	}
	t.Setenv("GODEBUG", "disablethp=1")
	if prepare(8 << 20) {
		t.Error("prepare advised the heap under GODEBUG=disablethp=1")
	}
}
