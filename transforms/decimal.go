package transforms

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// Money and other exact quantities are DECIMAL(38, 9): BigQuery's NUMERIC.
const (
	DecimalPrecision = 38
	DecimalScale     = 9
)

var (
	errNotNumber   = errors.New("is not a decimal number")
	errTooPrecise  = fmt.Errorf("has more than %d decimal places; refusing to round", DecimalScale)
	errTooLarge    = fmt.Errorf("does not fit DECIMAL(%d,%d)", DecimalPrecision, DecimalScale)
	errNotInteger  = errors.New("is not a whole number")
	errIntTooLarge = errors.New("does not fit a 64-bit integer")
)

// NullDecimal is a nullable scale-9 decimal: a DECIMAL(38, 9) value that
// may be NULL.
type NullDecimal struct {
	Num   decimal128.Num
	Valid bool
}

// IsZero reports whether d is NULL or zero.
func (d NullDecimal) IsZero() bool { return !d.Valid || d.Num == (decimal128.Num{}) }

var pow10 = func() [19]uint64 {
	var p [19]uint64
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// ParseDecimal parses decimal text — a JSON number such as -0.00750 or
// 1.5e-3 — into a decimal128 at scale 9, exactly. Digits beyond the
// ninth decimal place are accepted only when they are zeros: money is
// never rounded.
func ParseDecimal(s string) (decimal128.Num, error) {
	var buf [64]byte
	digits := buf[:0]
	i, neg := 0, false
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	intStart := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		if len(digits) > 0 || s[i] != '0' {
			digits = append(digits, s[i])
		}
		i++
	}
	nInt := i - intStart
	fracLen := 0
	if i < len(s) && s[i] == '.' {
		i++
		fracStart := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if len(digits) > 0 || s[i] != '0' {
				digits = append(digits, s[i])
			}
			i++
		}
		fracLen = i - fracStart
		if fracLen == 0 {
			return decimal128.Num{}, errNotNumber
		}
	}
	if nInt == 0 && fracLen == 0 {
		return decimal128.Num{}, errNotNumber
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 100 || e < -100 {
			return decimal128.Num{}, errNotNumber
		}
		exp = e
		i = len(s)
	}
	if i != len(s) {
		return decimal128.Num{}, errNotNumber
	}
	// value = digits × 10^(exp − fracLen); scaled by 10^9.
	shift := exp - fracLen + DecimalScale
	if shift < 0 {
		drop := -shift
		if drop > len(digits) {
			drop = len(digits)
		}
		for _, d := range digits[len(digits)-drop:] {
			if d != '0' {
				return decimal128.Num{}, errTooPrecise
			}
		}
		digits = digits[:len(digits)-drop]
	} else if len(digits) > 0 {
		if len(digits)+shift > DecimalPrecision {
			return decimal128.Num{}, errTooLarge
		}
		for range shift {
			digits = append(digits, '0')
		}
	}
	if len(digits) > DecimalPrecision {
		return decimal128.Num{}, errTooLarge
	}
	var n decimal128.Num
	for len(digits) > 0 {
		k := min(len(digits), 18)
		var chunk uint64
		for _, d := range digits[:k] {
			chunk = chunk*10 + uint64(d-'0')
		}
		if n == (decimal128.Num{}) {
			n = decimal128.FromU64(chunk)
		} else {
			n = n.Mul(decimal128.FromU64(pow10[k])).Add(decimal128.FromU64(chunk))
		}
		digits = digits[k:]
	}
	if neg {
		n = n.Negate()
	}
	return n, nil
}

// FormatDecimal formats a scale-9 decimal with its trailing zeros
// removed: 1.500000000 → "1.5", 2.000000000 → "2".
func FormatDecimal(n decimal128.Num) string {
	s := n.ToString(DecimalScale)
	if dot := indexByte(s, '.'); dot >= 0 {
		j := len(s)
		for j > dot+1 && s[j-1] == '0' {
			j--
		}
		if j == dot+1 {
			j = dot
		}
		s = s[:j]
	}
	return s
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

var scaleOne = decimal128.FromU64(pow10[DecimalScale])

// toInt64 returns a scale-9 decimal as a whole number.
func toInt64(n decimal128.Num) (int64, error) {
	q, r := n.Div(scaleOne)
	if r != (decimal128.Num{}) {
		return 0, errNotInteger
	}
	if !q.FitsInPrecision(18) {
		return 0, errIntTooLarge
	}
	return int64(q.LowBits()), nil
}
