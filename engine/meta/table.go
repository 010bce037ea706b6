package meta

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// instant is a date to the nanosecond, comparable as a pair.
type instant struct {
	sec  int64
	nsec int32
}

func instantOf(t time.Time) instant { return instant{t.Unix(), int32(t.Nanosecond())} }

func (a instant) cmp(b instant) int {
	if c := cmp.Compare(a.sec, b.sec); c != 0 {
		return c
	}
	return cmp.Compare(a.nsec, b.nsec)
}

// lists holds, for the documents that have values of one kind in a field,
// their ordinals (ascending) and values: document ord[e] has
// val[off[e]:off[e+1]].
type lists[T any] struct {
	ord []uint32
	off []uint32
	val []T
}

func (l *lists[T]) add(ord uint32, vals []T) {
	if len(vals) == 0 {
		return
	}
	if l.off == nil {
		l.off = []uint32{0}
	}
	l.ord = append(l.ord, ord)
	l.val = append(l.val, vals...)
	l.off = append(l.off, uint32(len(l.val)))
}

// get returns the values of ordinal ord.
func (l *lists[T]) get(ord uint32) []T {
	e, ok := slices.BinarySearch(l.ord, ord)
	if !ok {
		return nil
	}
	return l.val[l.off[e]:l.off[e+1]]
}

// match sets in bm the ordinals with a value for which f is true.
func (l *lists[T]) match(bm Bitmap, f func(T) bool) {
	for e, ord := range l.ord {
		for _, v := range l.val[l.off[e]:l.off[e+1]] {
			if f(v) {
				bm[ord>>6] |= 1 << (ord & 63)
				break
			}
		}
	}
}

// column is one field.
type column struct {
	present Bitmap // documents with a value that is not null (an empty array counts)
	dict    map[string]uint32
	strs    []string // code → string
	dates   Bitmap   // codes whose string is a date (ParseTime)
	bools   bool     // some value was a boolean (stored as "true"/"false")
	multi   bool     // some document has several string values
	str     lists[uint32]
	num     lists[float64]
	time    lists[instant]
}

// code is the dictionary code of s; date says whether s is a date.
func (c *column) code(s string, date bool) uint32 {
	if k, ok := c.dict[s]; ok {
		return k
	}
	k := uint32(len(c.strs))
	c.dict[s] = k
	c.strs = append(c.strs, s)
	if date {
		c.dates.Set(k)
	}
	return k
}

// Table is the metadata of an index's documents, by ordinal. It is safe for
// concurrent use: Match, Sort, Check and the accessors share a read lock,
// Append and Delete take the write lock.
type Table struct {
	mu      sync.RWMutex
	n       uint32
	deleted Bitmap
	cols    map[string]*column
	names   []string // in order of first appearance
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{cols: make(map[string]*column)}
}

// Len is the number of ordinals appended (deleted ones included).
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return int(t.n)
}

// Fields returns the names of the indexed fields, sorted.
func (t *Table) Fields() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	names := slices.Clone(t.names)
	slices.Sort(names)
	return names
}

// HasField reports whether some document has a value for the field (alias
// resolved).
func (t *Table) HasField(name string) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	_, ok := t.cols[CanonicalField(name)]
	return ok
}

// acc gathers one field's values of the document being appended.
type acc struct {
	present bool
	bools   bool
	strs    []string
	date    []bool // date[i]: strs[i] is a date
	nums    []float64
	times   []instant
}

// Append adds the metadata of the next document and returns its ordinal.
// md holds JSON values (as ingest and encoding/json with UseNumber give
// them: nil, bool, string, json.Number, []any, map[string]any), and may
// also hold Go numbers, time.Time and []string. Any other type, NaN, or a
// malformed json.Number is an error, and the table is left unchanged.
func (t *Table) Append(md map[string]any) (uint32, error) {
	accs := map[string]*acc{}
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic order of new columns
	for _, k := range keys {
		if err := collect(accs, k, md[k], 0); err != nil {
			return 0, fmt.Errorf("meta: field %s: %w", k, err)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == math.MaxUint32 {
		return 0, fmt.Errorf("meta: table full (%d documents)", t.n)
	}
	ord := t.n
	t.n++
	names := make([]string, 0, len(accs))
	for name := range accs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		a := accs[name]
		c := t.cols[name]
		if c == nil {
			c = &column{dict: map[string]uint32{}}
			t.cols[name] = c
			t.names = append(t.names, name)
		}
		if a.present {
			c.present.Set(ord)
		}
		c.bools = c.bools || a.bools
		if len(a.strs) > 0 {
			codes := make([]uint32, len(a.strs))
			for i, s := range a.strs {
				codes[i] = c.code(s, a.date[i])
			}
			c.str.add(ord, codes)
			c.multi = c.multi || len(codes) > 1
		}
		c.num.add(ord, a.nums)
		c.time.add(ord, a.times)
	}
	return ord, nil
}

// collect adds value v of field name to accs; depth is 0 at the top level.
func collect(accs map[string]*acc, name string, v any, depth int) error {
	get := func() *acc {
		a := accs[name]
		if a == nil {
			a = &acc{}
			accs[name] = a
		}
		return a
	}
	switch v := v.(type) {
	case nil:
		return nil
	case map[string]any:
		if depth > 0 {
			return nil // deeper objects are not indexed
		}
		for k, x := range v {
			if err := collect(accs, name+"."+k, x, depth+1); err != nil {
				return err
			}
		}
		return nil
	case []any:
		get().present = true
		for _, x := range v {
			if err := collect(accs, name, x, depth); err != nil {
				return err
			}
		}
		return nil
	case []string:
		a := get()
		a.present = true
		for _, s := range v {
			a.addString(s)
		}
		return nil
	}
	a := get()
	a.present = true
	switch v := v.(type) {
	case string:
		a.addString(v)
	case bool:
		a.bools = true
		a.strs = append(a.strs, strconv.FormatBool(v))
		a.date = append(a.date, false)
	case time.Time:
		a.times = append(a.times, instantOf(v))
	default:
		f, err := number(v)
		if err != nil {
			return err
		}
		a.nums = append(a.nums, f)
	}
	return nil
}

func (a *acc) addString(s string) {
	a.strs = append(a.strs, s)
	t, ok := ParseTime(s)
	a.date = append(a.date, ok)
	if ok {
		a.times = append(a.times, instantOf(t))
	}
}

// number converts a numeric value to float64.
func number(v any) (float64, error) {
	var f float64
	switch v := v.(type) {
	case json.Number:
		if !isDecimal(v.String()) {
			return 0, fmt.Errorf("malformed number %q", v.String())
		}
		// Beyond float64's range: ±Inf (or 0), which still sorts and
		// compares.
		f, _ = strconv.ParseFloat(v.String(), 64)
	case float64:
		f = v
	case float32:
		f = float64(v)
	case int:
		f = float64(v)
	case int8:
		f = float64(v)
	case int16:
		f = float64(v)
	case int32:
		f = float64(v)
	case int64:
		f = float64(v)
	case uint:
		f = float64(v)
	case uint8:
		f = float64(v)
	case uint16:
		f = float64(v)
	case uint32:
		f = float64(v)
	case uint64:
		f = float64(v)
	default:
		return 0, fmt.Errorf("unsupported value type %T", v)
	}
	if math.IsNaN(f) {
		return 0, fmt.Errorf("NaN")
	}
	return f, nil
}

// Delete marks an ordinal deleted: Match never returns it again.
func (t *Table) Delete(ord uint32) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ord >= t.n {
		return fmt.Errorf("meta: delete ordinal %d: the table has %d", ord, t.n)
	}
	t.deleted.Set(ord)
	return nil
}

// Deleted reports whether an ordinal was deleted.
func (t *Table) Deleted(ord uint32) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.deleted.Has(ord)
}

// Live returns the ordinals not deleted.
func (t *Table) Live() Bitmap {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.live()
}

func (t *Table) live() Bitmap {
	bm := NewBitmap(int(t.n))
	for i := range bm {
		bm[i] = ^uint64(0)
	}
	if r := t.n & 63; r != 0 {
		bm[len(bm)-1] = 1<<r - 1
	}
	bm.AndNot(t.deleted)
	return bm
}

// Match returns the live ordinals that match every filter. It does not fail:
// a filter that cannot match (a field no document has, a comparison with a
// value that is neither a number nor a date) matches nothing; see Check.
func (t *Table) Match(filters []Filter) Bitmap {
	t.mu.RLock()
	defer t.mu.RUnlock()
	res := t.live()
	for _, f := range filters {
		res.And(t.match(f))
	}
	return res
}

// compiled is a filter's values parsed once.
type compiled struct {
	strs  []string
	nums  []float64
	times []instant
}

func compile(vals []string) compiled {
	var c compiled
	for _, v := range vals {
		c.strs = append(c.strs, v)
		if f, ok := ParseNumber(v); ok {
			c.nums = append(c.nums, f)
		}
		if tm, ok := ParseTime(v); ok {
			c.times = append(c.times, instantOf(tm))
		}
	}
	return c
}

// match evaluates one filter over every ordinal (deletions aside).
func (t *Table) match(f Filter) Bitmap {
	bm := NewBitmap(int(t.n))
	c := t.cols[CanonicalField(f.Field)]
	if c == nil || f.check() != nil {
		return bm
	}
	vals := compile(f.Values)
	switch f.Op {
	case Eq, Ne:
		t.matchEq(c, vals, bm)
		if f.Op == Ne {
			eq := bm.Clone()
			copy(bm, c.present)
			clear(bm[min(len(c.present), len(bm)):])
			bm.AndNot(eq)
		}
	default:
		if len(vals.nums) == 1 {
			x := vals.nums[0]
			var pred func(float64) bool
			switch f.Op {
			case Lt:
				pred = func(v float64) bool { return v < x }
			case Le:
				pred = func(v float64) bool { return v <= x }
			case Gt:
				pred = func(v float64) bool { return v > x }
			case Ge:
				pred = func(v float64) bool { return v >= x }
			}
			c.num.match(bm, pred)
		} else if len(vals.times) == 1 {
			x := vals.times[0]
			want := map[Op]func(int) bool{
				Lt: func(c int) bool { return c < 0 },
				Le: func(c int) bool { return c <= 0 },
				Gt: func(c int) bool { return c > 0 },
				Ge: func(c int) bool { return c >= 0 },
			}[f.Op]
			c.time.match(bm, func(v instant) bool { return want(v.cmp(x)) })
		}
	}
	return bm
}

// matchEq sets in bm the ordinals with a value equal to one of vals.
func (t *Table) matchEq(c *column, vals compiled, bm Bitmap) {
	var codes []uint32
	for _, s := range vals.strs {
		if k, ok := c.dict[s]; ok {
			codes = append(codes, k)
		}
	}
	switch len(codes) {
	case 0:
	case 1:
		k := codes[0]
		c.str.match(bm, func(v uint32) bool { return v == k })
	default:
		set := NewBitmap(len(c.strs))
		for _, k := range codes {
			set.Set(k)
		}
		c.str.match(bm, func(v uint32) bool { return set[v>>6]>>(v&63)&1 != 0 })
	}
	if len(vals.nums) > 0 {
		c.num.match(bm, func(v float64) bool { return slices.Contains(vals.nums, v) })
	}
	if len(vals.times) > 0 {
		c.time.match(bm, func(v instant) bool {
			for _, x := range vals.times {
				if v == x {
					return true
				}
			}
			return false
		})
	}
}

// Check reports filters that cannot mean what they say on this table: a
// field no document has, or a value of a type the field never holds (a
// date compared with a field of numbers, a number with a field of dates, a
// non-numeric value for a field of numbers only).
func (t *Table) Check(filters []Filter) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var errs []string
	for _, f := range filters {
		if err := t.check(f); err != nil {
			errs = append(errs, fmt.Sprintf("filter %q: %v", f.String(), err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("meta: %s", strings.Join(errs, "; "))
	}
	return nil
}

func (t *Table) check(f Filter) error {
	if err := f.check(); err != nil {
		return err
	}
	name := CanonicalField(f.Field)
	c := t.cols[name]
	if c == nil {
		return fmt.Errorf("no document has a field %q", name)
	}
	holds := c.holds()
	vals := compile(f.Values)
	switch f.Op {
	case Eq, Ne:
		if len(c.strs) == 0 && len(c.time.ord) == 0 {
			for _, v := range f.Values {
				if _, ok := ParseNumber(v); !ok && len(c.num.ord) > 0 {
					return fmt.Errorf("%s holds %s; %q is not a number", name, holds, v)
				}
			}
		}
	default:
		if len(vals.nums) == 1 && len(c.num.ord) == 0 {
			return fmt.Errorf("%s holds %s, no numbers, to compare with %s", name, holds, f.Values[0])
		}
		if len(vals.times) == 1 && len(c.time.ord) == 0 {
			return fmt.Errorf("%s holds %s, no dates, to compare with %s", name, holds, f.Values[0])
		}
	}
	return nil
}

// holds describes the kinds of values a column has, for messages.
func (c *column) holds() string {
	var kinds []string
	if len(c.num.ord) > 0 {
		kinds = append(kinds, "numbers")
	}
	if len(c.time.ord) > 0 {
		kinds = append(kinds, "dates")
	}
	if len(c.str.ord) > len(c.time.ord) {
		kinds = append(kinds, "strings")
	}
	if len(kinds) == 0 {
		return "only nulls and empty arrays"
	}
	return strings.Join(kinds, " and ")
}

// keyed is an ordinal with its sort key of one kind.
type keyed[T any] struct {
	key T
	ord uint32
}

// sortKeyed sorts a group stably by key, descending if desc, and appends
// its ordinals to out.
func sortKeyed[T any](out []uint32, g []keyed[T], desc bool, cmp func(a, b T) int) []uint32 {
	slices.SortStableFunc(g, func(a, b keyed[T]) int {
		if desc {
			return cmp(b.key, a.key)
		}
		return cmp(a.key, b.key)
	})
	for _, k := range g {
		out = append(out, k.ord)
	}
	return out
}

// Sort orders ords by field, stably; see the package documentation.
func (t *Table) Sort(ords []uint32, field string, desc bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	c := t.cols[CanonicalField(field)]
	if c == nil || len(ords) < 2 {
		return
	}
	// Group by kind (a stable partition), then sort each group.
	var (
		nums  []keyed[float64]
		times []keyed[instant]
		strs  []keyed[string]
		nulls []uint32
	)
	for _, ord := range ords {
		if v := c.num.get(ord); len(v) > 0 {
			nums = append(nums, keyed[float64]{pick(v, desc, cmp.Compare[float64]), ord})
		} else if v := c.time.get(ord); len(v) > 0 {
			times = append(times, keyed[instant]{pick(v, desc, instant.cmp), ord})
		} else if v := c.str.get(ord); len(v) > 0 {
			k := pick(v, desc, func(a, b uint32) int { return strings.Compare(c.strs[a], c.strs[b]) })
			strs = append(strs, keyed[string]{c.strs[k], ord})
		} else {
			nulls = append(nulls, ord)
		}
	}
	out := ords[:0:0]
	if desc {
		out = sortKeyed(out, strs, true, strings.Compare)
		out = sortKeyed(out, times, true, instant.cmp)
		out = sortKeyed(out, nums, true, cmp.Compare[float64])
	} else {
		out = sortKeyed(out, nums, false, cmp.Compare[float64])
		out = sortKeyed(out, times, false, instant.cmp)
		out = sortKeyed(out, strs, false, strings.Compare)
	}
	copy(ords, append(out, nulls...))
}

// pick returns the smallest value (the largest if max).
func pick[T any](vals []T, max bool, cmp func(a, b T) int) T {
	best := vals[0]
	for _, v := range vals[1:] {
		if c := cmp(v, best); max && c > 0 || !max && c < 0 {
			best = v
		}
	}
	return best
}
