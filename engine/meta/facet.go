package meta

import (
	"math"
	"math/bits"
	"slices"
	"time"
)

// FieldType is the kind of values a field holds, as Facets reports it.
type FieldType string

// Field types.
const (
	TypeString FieldType = "string" // strings (some may be dates); also a field of only empty arrays
	TypeNumber FieldType = "number"
	TypeTime   FieldType = "time"  // every string is a date (ParseTime), or time.Time values
	TypeBool   FieldType = "bool"  // booleans only
	TypeMixed  FieldType = "mixed" // several of the above (numbers and strings, ...)
)

// Facet summarizes one field over a set of documents: what filters and sorts
// can be built from it. Its JSON is the "facets" entry of the server's index
// description.
type Facet struct {
	Type FieldType `json:"type"`
	// Documents is how many documents have the field (a value that is not
	// null; an empty array counts).
	Documents int `json:"documents"`
	// Values are the most frequent values of a string, bool or mixed field
	// (the string and boolean ones; booleans as "true" and "false"), count
	// descending then value ascending (byte-wise); Count is the number of
	// documents with the value (each value of an array counts, a value
	// repeated in one document's array once): what FIELD=VALUE matches.
	// Truncated says there were more than the limit.
	Values    []FacetValue `json:"values,omitempty"`
	Truncated bool         `json:"truncated,omitempty"`
	// Min and Max bound a number field (float64; values beyond float64's
	// range are left out) or a time field (RFC 3339 strings, UTC, to the
	// nanosecond); nil otherwise.
	Min any `json:"min,omitempty"`
	Max any `json:"max,omitempty"`
	// Sortable: the field is a number, time or string field (Table.Sort
	// orders any field; these are the ones a sort menu offers).
	Sortable bool `json:"sortable"`
}

// FacetValue is a value of a field and the number of documents having it.
type FacetValue struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// Facets summarizes every field over the documents of live (the live
// ordinals of a generation; nil: every ordinal of the table), deleted ones
// (Delete) never counted, keeping at most maxValues values per field
// (maxValues ≤ 0: none). Fields no counted document has are left out. It
// reads every value of every field once: O(values + distinct strings ·
// log maxValues).
func (t *Table) Facets(live Bitmap, maxValues int) map[string]Facet {
	t.mu.RLock()
	defer t.mu.RUnlock()
	docs := t.live()
	if live != nil {
		docs.And(live)
	}
	out := make(map[string]Facet, len(t.cols))
	var scratch facetScratch
	for name, c := range t.cols {
		if f, ok := c.facet(docs, maxValues, &scratch); ok {
			out[name] = f
		}
	}
	return out
}

// facetScratch is reused across the columns of one Facets call.
type facetScratch struct {
	counts []int32
	last   []uint32 // last[code] = 1 + the last ordinal counted for code
}

func (c *column) facet(live Bitmap, maxValues int, sc *facetScratch) (Facet, bool) {
	var f Facet
	n := min(len(c.present), len(live))
	for i := range n {
		f.Documents += bits.OnesCount64(c.present[i] & live[i])
	}
	if f.Documents == 0 {
		return f, false
	}
	// Numbers.
	nums, lo, hi := 0, math.Inf(1), math.Inf(-1)
	for e, ord := range c.num.ord {
		if !live.Has(ord) {
			continue
		}
		nums++
		for _, v := range c.num.val[c.num.off[e]:c.num.off[e+1]] {
			if !math.IsInf(v, 0) {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	// Dates (from date strings and time.Time values).
	times := 0
	var tlo, thi instant
	for e, ord := range c.time.ord {
		if !live.Has(ord) {
			continue
		}
		for _, v := range c.time.val[c.time.off[e]:c.time.off[e+1]] {
			if times == 0 || v.cmp(tlo) < 0 {
				tlo = v
			}
			if times == 0 || v.cmp(thi) > 0 {
				thi = v
			}
			times++
		}
	}
	// Strings: documents per code. A column whose strings are all dates
	// is a time field (or mixed, with numbers or booleans): its values are
	// not listed unless mixed, and need no counting then.
	strDocs := 0
	allDates := c.dates.Count() == len(c.strs)
	allBools := c.bools && len(c.strs) <= 2 && !slices.ContainsFunc(c.strs, func(s string) bool { return s != "true" && s != "false" })
	counted := false
	if len(c.str.ord) > 0 {
		if allDates && nums == 0 && !c.bools {
			for _, ord := range c.str.ord {
				if live.Has(ord) {
					strDocs++
				}
			}
		} else {
			strDocs = sc.count(c, live)
			counted = true
			allDates, allBools = true, c.bools
			for k, n := range sc.counts {
				if n == 0 {
					continue
				}
				allDates = allDates && c.dates.Has(uint32(k))
				allBools = allBools && (c.strs[k] == "true" || c.strs[k] == "false")
			}
		}
	}
	var kinds []FieldType
	if nums > 0 {
		kinds = append(kinds, TypeNumber)
	}
	switch {
	case strDocs > 0 && allBools:
		kinds = append(kinds, TypeBool)
	case strDocs > 0 && allDates:
		kinds = append(kinds, TypeTime)
	case strDocs > 0:
		kinds = append(kinds, TypeString)
	case times > 0:
		kinds = append(kinds, TypeTime) // time.Time values
	}
	switch len(kinds) {
	case 0:
		f.Type = TypeString // only empty arrays
	case 1:
		f.Type = kinds[0]
	default:
		f.Type = TypeMixed
	}
	switch f.Type {
	case TypeNumber:
		if lo <= hi {
			f.Min, f.Max = lo, hi
		}
	case TypeTime:
		f.Min, f.Max = tlo.format(), thi.format()
	}
	f.Sortable = f.Type == TypeNumber || f.Type == TypeTime || f.Type == TypeString
	if counted && strDocs > 0 && maxValues > 0 && (f.Type == TypeString || f.Type == TypeBool || f.Type == TypeMixed) {
		f.Values, f.Truncated = c.topValues(sc.counts, maxValues)
	}
	return f, true
}

// count fills sc.counts with the live documents per code of c and returns
// how many live documents have strings.
func (sc *facetScratch) count(c *column, live Bitmap) int {
	sc.counts = slices.Grow(sc.counts[:0], len(c.strs))[:len(c.strs)]
	clear(sc.counts)
	docs := 0
	if !c.multi { // one value a document: nothing to count twice
		for e, ord := range c.str.ord {
			if live.Has(ord) {
				docs++
				sc.counts[c.str.val[c.str.off[e]]]++
			}
		}
		return docs
	}
	sc.last = slices.Grow(sc.last[:0], len(c.strs))[:len(c.strs)]
	clear(sc.last)
	for e, ord := range c.str.ord {
		if !live.Has(ord) {
			continue
		}
		docs++
		for _, k := range c.str.val[c.str.off[e]:c.str.off[e+1]] {
			if sc.last[k] != ord+1 {
				sc.last[k] = ord + 1
				sc.counts[k]++
			}
		}
	}
	return docs
}

func (a instant) format() string {
	return time.Unix(a.sec, int64(a.nsec)).UTC().Format(time.RFC3339Nano)
}

// topValues returns the m most frequent codes of counts (count descending,
// string ascending) and whether there were more. A bounded heap keeps the
// best m: the worst kept at its root.
func (c *column) topValues(counts []int32, m int) ([]FacetValue, bool) {
	better := func(a, b uint32) bool { // a ranks before b
		if counts[a] != counts[b] {
			return counts[a] > counts[b]
		}
		return c.strs[a] < c.strs[b]
	}
	var h []uint32
	down := func(i int) {
		for {
			w := i
			if l := 2*i + 1; l < len(h) && better(h[w], h[l]) {
				w = l
			}
			if r := 2*i + 2; r < len(h) && better(h[w], h[r]) {
				w = r
			}
			if w == i {
				return
			}
			h[i], h[w] = h[w], h[i]
			i = w
		}
	}
	more := false
	for k, n := range counts {
		if n == 0 {
			continue
		}
		code := uint32(k)
		if len(h) < m {
			h = append(h, code)
			for i := len(h) - 1; i > 0; { // up
				p := (i - 1) / 2
				if !better(h[p], h[i]) {
					break
				}
				h[p], h[i] = h[i], h[p]
				i = p
			}
			continue
		}
		more = true
		if better(code, h[0]) {
			h[0] = code
			down(0)
		}
	}
	slices.SortFunc(h, func(a, b uint32) int {
		if better(a, b) {
			return -1
		}
		return 1 // codes are distinct: b ranks before a
	})
	out := make([]FacetValue, len(h))
	for i, k := range h {
		out[i] = FacetValue{Value: c.strs[k], Count: int(counts[k])}
	}
	return out, more
}
