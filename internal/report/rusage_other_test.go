//go:build !unix

package report_test

func peakRSSMiB() float64 { return 0 }
