// Package hugeheap lets the Go heap grow into transparent huge pages.
//
// Linux backs anonymous memory one 4 KiB page at a time, a page fault for
// each first touch, unless the memory is advised for huge pages
// (MADV_HUGEPAGE) and the system's THP mode is "madvise", the default of
// many distributions. The Go runtime advises only its own metadata, not
// the heap. A 200-account backfill's heap grows to ~110 MB in its first
// second: ~30,000 faults, which on the benchmark's VM cost ~15 µs each, a
// third of the read's CPU in that second, taken from the request slots'
// network goroutines (BENCHMARKS.md).
//
// Prepare allocates one large object, which the runtime maps fresh and
// never touches, advises its pages and lets the garbage collector free
// it. The runtime hands out free pages lowest address first, so the heap
// allocations that follow land in the advised range and fault in 2 MiB
// at a time. This relies on the runtime keeping the pages mapped: on
// Linux it gives free pages back with MADV_DONTNEED, which keeps the
// advice, and maps heap it has mapped before again only under
// GODEBUG=harddecommit=1. Where the advice is lost, the heap is what it
// would have been without Prepare; no data is affected either way.
package hugeheap

import "sync"

var once sync.Once

// Prepare advises the next size bytes of heap growth for huge pages when
// the system's THP mode is "madvise" and GODEBUG does not set disablethp.
// Only the first call acts; it reports whether it did. It takes a few
// milliseconds, most of them a garbage collection of a heap that is still
// small, so main may run it in its own goroutine.
func Prepare(size int) bool {
	advised := false
	once.Do(func() { advised = prepare(size) })
	return advised
}
