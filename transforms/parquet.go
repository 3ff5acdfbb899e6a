package transforms

import (
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// ParquetOptions tunes WriteParquet.
type ParquetOptions struct {
	// Compression defaults to zstd.
	Compression *compress.Compression
	// RowGroupRows bounds a row group; default 1M rows.
	RowGroupRows int64
	// Plain writes no dictionaries and no statistics: for files read once
	// and soon, where writing fast matters more than size.
	Plain bool
}

// WriteParquet writes recs, which share one schema, to w as one Parquet
// file; w is not closed. The logical types are what BigQuery and DuckDB map to their own:
// DATE for date32, TIMESTAMP(MICROS, UTC) for timestamp[us, UTC],
// DECIMAL(38, 9) for decimal128(38, 9).
func WriteParquet(w io.Writer, schema *arrow.Schema, recs []arrow.RecordBatch, opts ParquetOptions) error {
	codec := compress.Codecs.Zstd
	if opts.Compression != nil {
		codec = *opts.Compression
	}
	rg := opts.RowGroupRows
	if rg <= 0 {
		rg = 1 << 20
	}
	popts := []parquet.WriterProperty{
		parquet.WithCompression(codec),
		parquet.WithMaxRowGroupLength(rg),
		parquet.WithVersion(parquet.V2_6),
	}
	if opts.Plain {
		popts = append(popts, parquet.WithDictionaryDefault(false), parquet.WithStats(false))
	}
	props := parquet.NewWriterProperties(popts...)
	// pqarrow closes a sink that is an io.Closer; w stays the caller's.
	fw, err := pqarrow.NewFileWriter(schema, struct{ io.Writer }{w}, props, pqarrow.NewArrowWriterProperties())
	if err != nil {
		return fmt.Errorf("parquet writer: %w", err)
	}
	for _, r := range recs {
		if err := fw.WriteBuffered(r); err != nil {
			fw.Close()
			return fmt.Errorf("write parquet: %w", err)
		}
	}
	if err := fw.Close(); err != nil {
		return fmt.Errorf("close parquet: %w", err)
	}
	return nil
}
