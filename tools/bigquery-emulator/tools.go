//go:build tools

// Package tools pins the goccy bigquery-emulator, which the BigQuery
// destination's tests run against. It lives in its own module so the main
// module's build, vet and tests never compile go-zetasql (which needs
// clang and takes about ten minutes cold).
//
// Build it with scripts/bigquery-emulator.sh, or by hand:
//
//	CC=clang CXX=clang++ go build -o bigquery-emulator github.com/goccy/bigquery-emulator/cmd/bigquery-emulator
package tools

import _ "github.com/goccy/bigquery-emulator/cmd/bigquery-emulator"
