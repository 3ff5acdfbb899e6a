package bigquery

import (
	"fmt"
	"slices"

	"cloud.google.com/go/bigquery"
	"github.com/apache/arrow-go/v18/arrow"

	"github.com/twilio-elt/twilio-elt/internal/warehouse"
)

// fieldType maps an Arrow type to the BigQuery column type: STRING, DATE,
// TIMESTAMP, NUMERIC (decimals that fit NUMERIC's 29 integer and 9
// fraction digits, such as DECIMAL(38,9)), BIGNUMERIC (other decimals),
// INT64, BOOL and FLOAT64.
func fieldType(t arrow.DataType) (bigquery.FieldType, error) {
	switch t := t.(type) {
	case *arrow.StringType, *arrow.LargeStringType:
		return bigquery.StringFieldType, nil
	case *arrow.Date32Type:
		return bigquery.DateFieldType, nil
	case *arrow.TimestampType:
		return bigquery.TimestampFieldType, nil
	case *arrow.Decimal128Type:
		if t.Scale >= 0 && t.Scale <= 9 && t.Precision-t.Scale <= 29 {
			return bigquery.NumericFieldType, nil
		}
		if t.Scale >= 0 && t.Scale <= 38 {
			return bigquery.BigNumericFieldType, nil
		}
	case *arrow.Int8Type, *arrow.Int16Type, *arrow.Int32Type, *arrow.Int64Type,
		*arrow.Uint8Type, *arrow.Uint16Type, *arrow.Uint32Type:
		return bigquery.IntegerFieldType, nil
	case *arrow.BooleanType:
		return bigquery.BooleanFieldType, nil
	case *arrow.Float32Type, *arrow.Float64Type:
		return bigquery.FloatFieldType, nil
	}
	return "", fmt.Errorf("arrow type %s has no BigQuery column type", t)
}

// tableSchema is the BigQuery schema of an Arrow schema: one column per
// field, REQUIRED unless the field is nullable.
func tableSchema(s *arrow.Schema) (bigquery.Schema, error) {
	var out bigquery.Schema
	for _, f := range s.Fields() {
		if !identRE.MatchString(f.Name) {
			return nil, fmt.Errorf("column %q: want letters, digits and underscores", f.Name)
		}
		ft, err := fieldType(f.Type)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", f.Name, err)
		}
		fs := &bigquery.FieldSchema{Name: f.Name, Type: ft, Required: !f.Nullable}
		if ft == bigquery.NumericFieldType || ft == bigquery.BigNumericFieldType {
			d := f.Type.(*arrow.Decimal128Type)
			fs.Precision, fs.Scale = int64(d.Precision), int64(d.Scale)
		}
		out = append(out, fs)
	}
	return out, nil
}

// tableMetadata is the definition of t's target table: its columns, day
// partitioning on PartitionBy and clustering on ClusterBy.
func tableMetadata(t warehouse.Table) (*bigquery.TableMetadata, error) {
	if t.Schema == nil {
		return nil, fmt.Errorf("no schema")
	}
	schema, err := tableSchema(t.Schema)
	if err != nil {
		return nil, err
	}
	md := &bigquery.TableMetadata{Schema: schema}
	has := func(name string) bool {
		return slices.ContainsFunc(schema, func(f *bigquery.FieldSchema) bool { return f.Name == name })
	}
	for _, cols := range [][]string{t.Key, t.Group, t.ClusterBy} {
		for _, c := range cols {
			if !has(c) {
				return nil, fmt.Errorf("column %s is not in the schema", c)
			}
		}
	}
	if t.PartitionBy != "" {
		i := slices.IndexFunc(schema, func(f *bigquery.FieldSchema) bool { return f.Name == t.PartitionBy })
		if i < 0 {
			return nil, fmt.Errorf("partition column %s is not in the schema", t.PartitionBy)
		}
		if ft := schema[i].Type; ft != bigquery.DateFieldType && ft != bigquery.TimestampFieldType {
			return nil, fmt.Errorf("partition column %s is %s, want DATE or TIMESTAMP", t.PartitionBy, ft)
		}
		md.TimePartitioning = &bigquery.TimePartitioning{Type: bigquery.DayPartitioningType, Field: t.PartitionBy}
	}
	if len(t.ClusterBy) > 0 {
		md.Clustering = &bigquery.Clustering{Fields: slices.Clone(t.ClusterBy)}
	}
	return md, nil
}

// stagingSchema is a table's schema, every column NULLABLE (the insert
// into the target enforces REQUIRED, inside the transaction), plus the
// row-sequence column.
func stagingSchema(s bigquery.Schema) bigquery.Schema {
	out := make(bigquery.Schema, 0, len(s)+1)
	for _, f := range s {
		nf := *f
		nf.Required = false
		out = append(out, &nf)
	}
	return append(out, &bigquery.FieldSchema{Name: seqCol, Type: bigquery.IntegerFieldType, Required: true})
}
