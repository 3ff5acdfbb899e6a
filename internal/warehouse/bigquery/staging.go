package bigquery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// encodeStaging writes rec in format f, with the row-sequence column
// appended (0, 1, … in batch order).
func encodeStaging(w io.Writer, f StagingFormat, rec arrow.RecordBatch) error {
	switch f {
	case NDJSON:
		return writeNDJSON(w, rec)
	case Parquet:
		return writeParquet(w, rec)
	}
	return fmt.Errorf("unknown staging format %q", f)
}

// writeNDJSON writes one JSON object per row. Decimals are JSON strings
// of their exact decimal text (never a float), dates YYYY-MM-DD,
// timestamps RFC 3339 in UTC with microseconds.
func writeNDJSON(w io.Writer, rec arrow.RecordBatch) error {
	schema := rec.Schema()
	names := make([][]byte, len(schema.Fields()))
	for i, f := range schema.Fields() {
		n, err := json.Marshal(f.Name)
		if err != nil {
			return err
		}
		names[i] = n
	}
	seqName, _ := json.Marshal(seqCol)
	var buf []byte
	for r := 0; r < int(rec.NumRows()); r++ {
		buf = append(buf[:0], '{')
		for c := 0; c < int(rec.NumCols()); c++ {
			buf = append(buf, names[c]...)
			buf = append(buf, ':')
			var err error
			buf, err = appendJSONValue(buf, rec.Column(c), r)
			if err != nil {
				return fmt.Errorf("row %d column %s: %w", r, schema.Field(c).Name, err)
			}
			buf = append(buf, ',')
		}
		buf = append(buf, seqName...)
		buf = append(buf, ':')
		buf = strconv.AppendInt(buf, int64(r), 10)
		buf = append(buf, '}', '\n')
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// timestampLayout is how NDJSON carries a TIMESTAMP: UTC, microseconds.
const timestampLayout = "2006-01-02T15:04:05.000000Z"

func appendJSONValue(buf []byte, col arrow.Array, i int) ([]byte, error) {
	if col.IsNull(i) {
		return append(buf, "null"...), nil
	}
	switch a := col.(type) {
	case *array.String:
		return appendJSONString(buf, a.Value(i)), nil
	case *array.LargeString:
		return appendJSONString(buf, a.Value(i)), nil
	case *array.Date32:
		return appendJSONString(buf, a.Value(i).ToTime().UTC().Format(time.DateOnly)), nil
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return appendJSONString(buf, a.Value(i).ToTime(unit).UTC().Format(timestampLayout)), nil
	case *array.Decimal128:
		scale := a.DataType().(*arrow.Decimal128Type).Scale
		return appendJSONString(buf, a.Value(i).ToString(scale)), nil
	case *array.Int8:
		return strconv.AppendInt(buf, int64(a.Value(i)), 10), nil
	case *array.Int16:
		return strconv.AppendInt(buf, int64(a.Value(i)), 10), nil
	case *array.Int32:
		return strconv.AppendInt(buf, int64(a.Value(i)), 10), nil
	case *array.Int64:
		return strconv.AppendInt(buf, a.Value(i), 10), nil
	case *array.Uint8:
		return strconv.AppendUint(buf, uint64(a.Value(i)), 10), nil
	case *array.Uint16:
		return strconv.AppendUint(buf, uint64(a.Value(i)), 10), nil
	case *array.Uint32:
		return strconv.AppendUint(buf, uint64(a.Value(i)), 10), nil
	case *array.Boolean:
		return strconv.AppendBool(buf, a.Value(i)), nil
	case *array.Float32:
		return appendJSONFloat(buf, float64(a.Value(i)), 32)
	case *array.Float64:
		return appendJSONFloat(buf, a.Value(i), 64)
	}
	return nil, fmt.Errorf("arrow type %s cannot be staged", col.DataType())
}

func appendJSONString(buf []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(buf, b...)
}

func appendJSONFloat(buf []byte, f float64, bits int) ([]byte, error) {
	b, err := json.Marshal(f) // NaN and ±Inf have no JSON form
	if err != nil {
		return nil, err
	}
	if bits == 32 {
		return strconv.AppendFloat(buf, f, 'g', -1, 32), nil
	}
	return append(buf, b...), nil
}

// writeParquet writes rec as zstd Parquet for a BigQuery load: DATE stays
// DATE, timestamps become TIMESTAMP(MICROS, adjusted to UTC) — which
// BigQuery loads as TIMESTAMP, not DATETIME — and Decimal128(38,9)
// becomes DECIMAL(38,9), which BigQuery loads as NUMERIC.
func writeParquet(w io.Writer, rec arrow.RecordBatch) error {
	staged, err := parquetRecord(rec)
	if err != nil {
		return err
	}
	defer staged.Release()
	props := parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithAllocator(memory.DefaultAllocator),
	)
	aprops := pqarrow.NewArrowWriterProperties(pqarrow.WithCoerceTimestamps(arrow.Microsecond))
	fw, err := pqarrow.NewFileWriter(staged.Schema(), w, props, aprops)
	if err != nil {
		return fmt.Errorf("parquet writer: %w", err)
	}
	if err := fw.Write(staged); err != nil {
		fw.Close()
		return fmt.Errorf("write parquet: %w", err)
	}
	if err := fw.Close(); err != nil {
		return fmt.Errorf("close parquet: %w", err)
	}
	return nil
}

// parquetRecord is rec with every timestamp column marked UTC (same
// values: Arrow timestamps count from the epoch in UTC whatever their
// zone) and the row-sequence column appended.
func parquetRecord(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	n := int(rec.NumRows())
	fields := make([]arrow.Field, 0, rec.NumCols()+1)
	cols := make([]arrow.Array, 0, rec.NumCols()+1)
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for i, f := range rec.Schema().Fields() {
		col := rec.Column(i)
		if ts, ok := f.Type.(*arrow.TimestampType); ok && ts.TimeZone != "UTC" {
			f.Type = &arrow.TimestampType{Unit: ts.Unit, TimeZone: "UTC"}
			data := array.NewData(f.Type, col.Len(), col.Data().Buffers(), nil, col.NullN(), col.Data().Offset())
			col = array.MakeFromData(data)
			data.Release()
		} else {
			col.Retain()
		}
		fields = append(fields, f)
		cols = append(cols, col)
	}
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	b.Reserve(n)
	for r := 0; r < n; r++ {
		b.UnsafeAppend(int64(r))
	}
	fields = append(fields, arrow.Field{Name: seqCol, Type: arrow.PrimitiveTypes.Int64})
	cols = append(cols, b.NewArray())
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(n)), nil
}

// stagingFile encodes rec into memory: the load job needs the bytes for
// its upload, and they feed the batch digest.
func stagingFile(f StagingFormat, rec arrow.RecordBatch) ([]byte, error) {
	var buf bytes.Buffer
	if err := encodeStaging(&buf, f, rec); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
