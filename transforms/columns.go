package transforms

import (
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/twilio-elt/twilio-elt/internal/warehouse"
)

// Column is one column of a table whose rows are Go values of type R: its
// Arrow field and how to read its value from a row. A table is defined as
// a list of Columns (TableDef): its schema and its Arrow batches come from
// that one list, so no column's position is ever kept in step by hand.
type Column[R any] struct {
	Field  arrow.Field
	append func(b array.Builder, r *R)
}

// StringColumn is a NOT NULL STRING column.
func StringColumn[R any](name string, get func(*R) string) Column[R] {
	return Column[R]{key(name, String), func(b array.Builder, r *R) { b.(*array.StringBuilder).Append(get(r)) }}
}

// OptionalString is a nullable STRING column whose "" is NULL.
func OptionalString[R any](name string, get func(*R) string) Column[R] {
	return Column[R]{col(name, String), func(b array.Builder, r *R) {
		sb := b.(*array.StringBuilder)
		if s := get(r); s != "" {
			sb.Append(s)
		} else {
			sb.AppendNull()
		}
	}}
}

// NullStringColumn is a nullable STRING column that keeps "" apart from
// NULL.
func NullStringColumn[R any](name string, get func(*R) NullString) Column[R] {
	return Column[R]{col(name, String), func(b array.Builder, r *R) {
		sb := b.(*array.StringBuilder)
		if s := get(r); s.Valid {
			sb.Append(s.S)
		} else {
			sb.AppendNull()
		}
	}}
}

// DateColumn is a NOT NULL DATE column.
func DateColumn[R any](name string, get func(*R) arrow.Date32) Column[R] {
	return Column[R]{key(name, Date), func(b array.Builder, r *R) { b.(*array.Date32Builder).Append(get(r)) }}
}

// DecimalColumn is a NOT NULL DECIMAL(38, 9) column.
func DecimalColumn[R any](name string, get func(*R) decimal128.Num) Column[R] {
	return Column[R]{key(name, Decimal), func(b array.Builder, r *R) { b.(*array.Decimal128Builder).Append(get(r)) }}
}

// NullDecimalColumn is a nullable DECIMAL(38, 9) column.
func NullDecimalColumn[R any](name string, get func(*R) NullDecimal) Column[R] {
	return Column[R]{col(name, Decimal), func(b array.Builder, r *R) {
		db := b.(*array.Decimal128Builder)
		if d := get(r); d.Valid {
			db.Append(d.Num)
		} else {
			db.AppendNull()
		}
	}}
}

// Int64Column is a NOT NULL INT64 column.
func Int64Column[R any](name string, get func(*R) int64) Column[R] {
	return Column[R]{key(name, Int64), func(b array.Builder, r *R) { b.(*array.Int64Builder).Append(get(r)) }}
}

// NullInt64Column is a nullable INT64 column.
func NullInt64Column[R any](name string, get func(*R) NullInt64) Column[R] {
	return Column[R]{col(name, Int64), func(b array.Builder, r *R) {
		ib := b.(*array.Int64Builder)
		if v := get(r); v.Valid {
			ib.Append(v.Int)
		} else {
			ib.AppendNull()
		}
	}}
}

// BoolColumn is a NOT NULL BOOL column.
func BoolColumn[R any](name string, get func(*R) bool) Column[R] {
	return Column[R]{key(name, Bool), func(b array.Builder, r *R) { b.(*array.BooleanBuilder).Append(get(r)) }}
}

// NullTimestampColumn is a nullable TIMESTAMP column.
func NullTimestampColumn[R any](name string, get func(*R) NullTimestamp) Column[R] {
	return Column[R]{col(name, Timestamp), func(b array.Builder, r *R) {
		tb := b.(*array.TimestampBuilder)
		if t := get(r); t.Valid {
			tb.Append(arrow.Timestamp(t.Micros))
		} else {
			tb.AppendNull()
		}
	}}
}

// ColumnsSchema returns the schema of a table of cols, with _loaded_at
// last, as every table has.
func ColumnsSchema[R any](cols []Column[R]) *arrow.Schema {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = c.Field
	}
	return schema(fields...)
}

// TableDef is a warehouse table whose rows are Go values of type R: the
// table (name, key, replace group, partitioning) and its columns, one
// definition.
type TableDef[R any] struct {
	warehouse.Table
	Columns []Column[R]
}

// NewTableDef returns the definition of t with cols; t's Schema is built
// from cols.
func NewTableDef[R any](t warehouse.Table, cols ...Column[R]) *TableDef[R] {
	t.Schema = ColumnsSchema(cols)
	return &TableDef[R]{Table: t, Columns: cols}
}

// RowBuilder builds Arrow batches of a table defined by Columns from Go
// rows. It is not safe for concurrent use.
type RowBuilder[R any] struct {
	cols []Column[R]
	b    *array.RecordBuilder
	n    int
}

// NewRowBuilder returns a builder of cols' table; mem nil is the Go
// allocator.
func NewRowBuilder[R any](mem memory.Allocator, cols []Column[R]) *RowBuilder[R] {
	if mem == nil {
		mem = memory.NewGoAllocator()
	}
	return &RowBuilder[R]{cols: cols, b: array.NewRecordBuilder(mem, ColumnsSchema(cols))}
}

// Append adds r.
func (rb *RowBuilder[R]) Append(r *R) {
	for i, c := range rb.cols {
		c.append(rb.b.Field(i), r)
	}
	rb.n++
}

// Len returns the number of rows appended since the last Flush.
func (rb *RowBuilder[R]) Len() int { return rb.n }

// Flush returns the rows appended since the last Flush, with _loaded_at
// set to loadedAt, or nil when there are none. The caller releases it.
func (rb *RowBuilder[R]) Flush(loadedAt time.Time) arrow.RecordBatch {
	if rb.n == 0 {
		return nil
	}
	lb := rb.b.Field(len(rb.cols)).(*array.TimestampBuilder)
	lb.Reserve(rb.n)
	ts := arrow.Timestamp(loadedAt.UnixMicro())
	for range rb.n {
		lb.UnsafeAppend(ts)
	}
	rb.n = 0
	return rb.b.NewRecordBatch()
}

// Release frees the builder.
func (rb *RowBuilder[R]) Release() { rb.b.Release() }
