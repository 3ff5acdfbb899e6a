package pipeline

import "github.com/apache/arrow-go/v18/arrow"

func arrowDay(d int32) arrow.Date32 { return arrow.Date32(d) }
