package meta

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Op is a filter's comparison.
type Op uint8

// The filter operators.
const (
	Eq Op = iota // =: any of the values
	Ne           // !=: none of the values
	Lt           // <
	Le           // <=
	Gt           // >
	Ge           // >=
)

var opText = [...]string{Eq: "=", Ne: "!=", Lt: "<", Le: "<=", Gt: ">", Ge: ">="}

func (o Op) String() string {
	if int(o) < len(opText) {
		return opText[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Filter is one condition on a metadata field.
type Filter struct {
	Field  string // canonical name (aliases resolved)
	Op     Op
	Values []string // one for Lt, Le, Gt, Ge; one or more for Eq, Ne
}

// CanonicalField resolves a field alias: "task" is "pipeline_tag".
func CanonicalField(name string) string {
	if name == "task" {
		return "pipeline_tag"
	}
	return name
}

// ParseFilter parses FIELD=V1,V2, FIELD!=V1,V2, FIELD>=V, FIELD>V, FIELD<V or
// FIELD<=V. Values are separated by commas; a value that has a comma or a
// quote, starts or ends with a space, or is empty is written in double
// quotes with \" and \\ escapes. Comparisons take one value, a number or a
// date (see ParseTime).
func ParseFilter(s string) (Filter, error) {
	f, err := parseFilter(s)
	if err != nil {
		return Filter{}, fmt.Errorf("filter %q: %w", s, err)
	}
	return f, nil
}

func parseFilter(s string) (Filter, error) {
	i := strings.IndexAny(s, "=!<>")
	if i < 0 {
		return Filter{}, errors.New("no operator: want FIELD=V, FIELD!=V, FIELD>=N, FIELD>N, FIELD<N or FIELD<=N")
	}
	field := strings.TrimSpace(s[:i])
	if field == "" {
		return Filter{}, errors.New("no field name before the operator")
	}
	if j := strings.IndexAny(field, " \t\"'"); j >= 0 {
		return Filter{}, fmt.Errorf("field name %q has a space or quote", field)
	}
	var f Filter
	rest := s[i:]
	switch {
	case strings.HasPrefix(rest, "!="):
		f.Op, rest = Ne, rest[2:]
	case strings.HasPrefix(rest, ">="):
		f.Op, rest = Ge, rest[2:]
	case strings.HasPrefix(rest, "<="):
		f.Op, rest = Le, rest[2:]
	case strings.HasPrefix(rest, "=="):
		f.Op, rest = Eq, rest[2:]
	case strings.HasPrefix(rest, "="):
		f.Op, rest = Eq, rest[1:]
	case strings.HasPrefix(rest, ">"):
		f.Op, rest = Gt, rest[1:]
	case strings.HasPrefix(rest, "<"):
		f.Op, rest = Lt, rest[1:]
	default:
		return Filter{}, fmt.Errorf("unknown operator at %q (want =, !=, >=, >, <, <=)", rest)
	}
	f.Field = CanonicalField(field)
	vals, err := splitValues(rest)
	if err != nil {
		return Filter{}, err
	}
	f.Values = vals
	if err := f.check(); err != nil {
		return Filter{}, err
	}
	return f, nil
}

// check validates a filter's shape: its values for its operator.
func (f Filter) check() error {
	if f.Field == "" {
		return errors.New("no field name")
	}
	switch f.Op {
	case Eq, Ne:
		if len(f.Values) == 0 {
			return fmt.Errorf("no value after %s", f.Op)
		}
	case Lt, Le, Gt, Ge:
		if len(f.Values) != 1 {
			return fmt.Errorf("%s takes one value, not %d", f.Op, len(f.Values))
		}
		v := f.Values[0]
		if _, ok := ParseNumber(v); ok {
			return nil
		}
		if _, ok := ParseTime(v); ok {
			return nil
		}
		return fmt.Errorf("%q is neither a number nor a date (YYYY-MM-DD, optionally THH:MM[:SS[.frac]] and Z or ±HH:MM)", v)
	default:
		return fmt.Errorf("unknown operator %s", f.Op)
	}
	return nil
}

// splitValues splits a comma-separated list of values, some quoted.
func splitValues(s string) ([]string, error) {
	var vals []string
	for i := 0; ; {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		var v string
		if i < len(s) && s[i] == '"' {
			var sb strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' {
					if j+1 == len(s) || (s[j+1] != '"' && s[j+1] != '\\') {
						return nil, fmt.Errorf(`value %d: a backslash in quotes must be followed by " or \`, len(vals)+1)
					}
					j++
				}
				sb.WriteByte(s[j])
			}
			if j == len(s) {
				return nil, fmt.Errorf("value %d: unterminated quote", len(vals)+1)
			}
			v, i = sb.String(), j+1
			for i < len(s) && s[i] == ' ' {
				i++
			}
			if i < len(s) && s[i] != ',' {
				return nil, fmt.Errorf("value %d: %q after the closing quote", len(vals)+1, s[i:])
			}
		} else {
			j := strings.IndexByte(s[i:], ',')
			if j < 0 {
				j = len(s) - i
			}
			v = strings.TrimRight(s[i:i+j], " ")
			i += j
			if v == "" {
				if len(vals) == 0 && i == len(s) {
					return nil, errors.New(`no value (write "" for the empty string)`)
				}
				return nil, fmt.Errorf(`value %d is empty (write "" for the empty string)`, len(vals)+1)
			}
			if strings.ContainsRune(v, '"') {
				return nil, fmt.Errorf("value %d: %q has a quote inside; quote the whole value", len(vals)+1, v)
			}
		}
		vals = append(vals, v)
		if i == len(s) {
			return vals, nil
		}
		i++ // the comma
		if i == len(s) {
			return nil, errors.New("a comma ends the list of values")
		}
	}
}

// String returns the filter in the syntax ParseFilter reads.
func (f Filter) String() string {
	var sb strings.Builder
	sb.WriteString(f.Field)
	sb.WriteString(f.Op.String())
	for i, v := range f.Values {
		if i > 0 {
			sb.WriteByte(',')
		}
		// Quoted where needed: "x==a" would read as the operator ==.
		if v == "" || strings.ContainsAny(v, `,"\`) || strings.TrimSpace(v) != v || v[0] == '=' {
			sb.WriteByte('"')
			sb.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v))
			sb.WriteByte('"')
		} else {
			sb.WriteString(v)
		}
	}
	return sb.String()
}

// SortSpec orders results by a field.
type SortSpec struct {
	Field string // canonical name
	Desc  bool
}

// ParseSort parses "FIELD", "FIELD:asc" or "FIELD:desc".
func ParseSort(s string) (SortSpec, error) {
	field, dir, hasDir := strings.Cut(strings.TrimSpace(s), ":")
	field = strings.TrimSpace(field)
	if field == "" {
		return SortSpec{}, fmt.Errorf("sort %q: no field name", s)
	}
	spec := SortSpec{Field: CanonicalField(field)}
	if hasDir {
		switch strings.ToLower(strings.TrimSpace(dir)) {
		case "asc":
		case "desc":
			spec.Desc = true
		default:
			return SortSpec{}, fmt.Errorf("sort %q: direction %q (want asc or desc)", s, dir)
		}
	}
	return spec, nil
}

func (s SortSpec) String() string {
	if s.Desc {
		return s.Field + ":desc"
	}
	return s.Field + ":asc"
}

// ParseNumber parses a decimal number: an optional sign, digits with an
// optional fraction, and an optional exponent, as JSON writes numbers.
// Infinities (and numbers beyond float64's range), NaN, hex and underscores
// are not numbers here.
func ParseNumber(s string) (float64, bool) {
	if !isDecimal(s) {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// isDecimal reports whether s is written as ParseNumber wants.
func isDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			i++
		}
		exp := 0
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

// ParseTime parses an ISO 8601 date as metadata writes it: YYYY-MM or
// YYYY-MM-DD, optionally followed by "T" (or a space) and HH:MM, HH:MM:SS or
// HH:MM:SS.fraction, and a zone "Z" or ±HH:MM (±HHMM, ±HH); without a zone
// it is UTC. A date alone is its midnight.
func ParseTime(s string) (time.Time, bool) {
	num := func(i, n int) (int, bool) {
		if i+n > len(s) {
			return 0, false
		}
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok := num(0, 4)
	if !ok || len(s) < 7 || s[4] != '-' {
		return time.Time{}, false
	}
	month, ok := num(5, 2)
	if !ok || month < 1 || month > 12 {
		return time.Time{}, false
	}
	day, hour, minute, sec, nsec := 1, 0, 0, 0, 0
	loc := time.UTC
	i := 7
	if i < len(s) {
		if s[i] != '-' {
			return time.Time{}, false
		}
		if day, ok = num(i+1, 2); !ok || day < 1 {
			return time.Time{}, false
		}
		i += 3
	}
	if i < len(s) && (s[i] == 'T' || s[i] == 't' || s[i] == ' ') && len(s) > 10 {
		if hour, ok = num(i+1, 2); !ok || hour > 23 || i+3 >= len(s) || s[i+3] != ':' {
			return time.Time{}, false
		}
		if minute, ok = num(i+4, 2); !ok || minute > 59 {
			return time.Time{}, false
		}
		i += 6
		if i < len(s) && s[i] == ':' {
			if sec, ok = num(i+1, 2); !ok || sec > 59 {
				return time.Time{}, false
			}
			i += 3
			if i < len(s) && (s[i] == '.' || s[i] == ',') {
				j := i + 1
				scale := 100000000
				for ; j < len(s) && s[j] >= '0' && s[j] <= '9'; j++ {
					nsec += int(s[j]-'0') * scale
					scale /= 10
				}
				if j == i+1 {
					return time.Time{}, false
				}
				i = j
			}
		}
		if i < len(s) {
			switch s[i] {
			case 'Z', 'z':
				i++
			case '+', '-':
				zh, ok := num(i+1, 2)
				if !ok || zh > 23 {
					return time.Time{}, false
				}
				zm := 0
				j := i + 3
				if j < len(s) && s[j] == ':' {
					j++
				}
				if j < len(s) {
					if zm, ok = num(j, 2); !ok || zm > 59 {
						return time.Time{}, false
					}
					j += 2
				}
				off := zh*3600 + zm*60
				if s[i] == '-' {
					off = -off
				}
				loc = time.FixedZone("", off)
				i = j
			}
		}
	}
	if i != len(s) {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
	if t.Day() != day { // February 30th and the like
		return time.Time{}, false
	}
	return t, true
}
