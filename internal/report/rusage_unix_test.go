//go:build unix

package report_test

import "syscall"

// peakRSSMiB returns the process's peak resident set size so far, in
// MiB (Linux reports ru_maxrss in KiB).
func peakRSSMiB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024
}
