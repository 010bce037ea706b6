package meta

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// facetDoc makes the metadata of document i: fields of every type, arrays
// with repeated values, nulls and empty arrays.
func facetDoc(rng *rand.Rand, i int) map[string]any {
	md := map[string]any{}
	if rng.IntN(10) > 0 {
		md["task"] = []string{"asr", "tts", "text-classification", "fill-mask", "ner"}[rng.IntN(5)]
	}
	switch rng.IntN(4) {
	case 0:
		md["tags"] = []any{}
	case 1:
		md["tags"] = nil
	default:
		var tags []any
		for range 1 + rng.IntN(4) {
			tags = append(tags, fmt.Sprintf("t%d", rng.IntN(12)))
		}
		md["tags"] = tags
	}
	md["likes"] = json.Number(strconv.Itoa(rng.IntN(1000) - 10))
	if rng.IntN(3) > 0 {
		md["lastModified"] = time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(1e6)) * time.Minute).Format(time.RFC3339)
	}
	md["private"] = rng.IntN(3) == 0
	if rng.IntN(2) == 0 {
		md["mixed"] = json.Number(strconv.Itoa(i))
	} else {
		md["mixed"] = []string{"x", "y"}[i%2]
	}
	md["config"] = map[string]any{"model_type": []string{"bert", "gpt2"}[i%2]}
	md["only_empty"] = []any{}
	return md
}

// brute is a facet computed from the documents' JSON values directly.
func brute(docs []map[string]any, live func(int) bool) map[string]Facet {
	type agg struct {
		docs               int
		counts             map[string]int
		num, str, bool, tm bool
		lo, hi             float64
		tlo, thi           time.Time
	}
	aggs := map[string]*agg{}
	var scalars func(v any, out *[]any)
	scalars = func(v any, out *[]any) {
		switch v := v.(type) {
		case nil:
		case []any:
			for _, x := range v {
				scalars(x, out)
			}
		case []string:
			for _, x := range v {
				*out = append(*out, x)
			}
		default:
			*out = append(*out, v)
		}
	}
	for i, md := range docs {
		if !live(i) {
			continue
		}
		fields := map[string]any{}
		for k, v := range md {
			if o, ok := v.(map[string]any); ok {
				for k2, v2 := range o {
					fields[k+"."+k2] = v2
				}
				continue
			}
			fields[k] = v
		}
		for k, v := range fields {
			if v == nil {
				continue
			}
			a := aggs[k]
			if a == nil {
				a = &agg{counts: map[string]int{}, lo: math.Inf(1), hi: math.Inf(-1)}
				aggs[k] = a
			}
			a.docs++
			var vals []any
			scalars(v, &vals)
			seen := map[string]bool{}
			for _, x := range vals {
				s := ""
				switch x := x.(type) {
				case json.Number:
					a.num = true
					f, _ := x.Float64()
					a.lo, a.hi = min(a.lo, f), max(a.hi, f)
					continue
				case bool:
					a.bool = true
					s = strconv.FormatBool(x)
				case string:
					if tm, ok := ParseTime(x); ok {
						a.tm = true
						if a.tlo.IsZero() || tm.Before(a.tlo) {
							a.tlo = tm
						}
						if a.thi.IsZero() || tm.After(a.thi) {
							a.thi = tm
						}
					} else {
						a.str = true
					}
					s = x
				}
				if !seen[s] {
					seen[s] = true
					a.counts[s]++
				}
			}
		}
	}
	out := map[string]Facet{}
	for k, a := range aggs {
		var kinds []FieldType
		if a.num {
			kinds = append(kinds, TypeNumber)
		}
		switch {
		case a.bool && !a.str && !a.tm:
			kinds = append(kinds, TypeBool)
		case a.str || a.bool:
			kinds = append(kinds, TypeString)
		case a.tm:
			kinds = append(kinds, TypeTime)
		}
		f := Facet{Documents: a.docs, Type: TypeString}
		if len(kinds) == 1 {
			f.Type = kinds[0]
		} else if len(kinds) > 1 {
			f.Type = TypeMixed
		}
		switch f.Type {
		case TypeNumber:
			f.Min, f.Max = a.lo, a.hi
		case TypeTime:
			f.Min, f.Max = a.tlo.UTC().Format(time.RFC3339Nano), a.thi.UTC().Format(time.RFC3339Nano)
		}
		if f.Type == TypeString || f.Type == TypeBool || f.Type == TypeMixed {
			for v, n := range a.counts {
				f.Values = append(f.Values, FacetValue{v, n})
			}
			sort.Slice(f.Values, func(i, j int) bool {
				if f.Values[i].Count != f.Values[j].Count {
					return f.Values[i].Count > f.Values[j].Count
				}
				return f.Values[i].Value < f.Values[j].Value
			})
		}
		f.Sortable = f.Type == TypeNumber || f.Type == TypeTime || f.Type == TypeString
		out[k] = f
	}
	return out
}

func truncate(fs map[string]Facet, m int) map[string]Facet {
	out := map[string]Facet{}
	for k, f := range fs {
		if len(f.Values) > m {
			f.Values, f.Truncated = f.Values[:m], true
		}
		if len(f.Values) == 0 {
			f.Values = nil
		}
		out[k] = f
	}
	return out
}

func TestFacetsBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 700
	tab := NewTable()
	var docs []map[string]any
	for i := range n {
		md := facetDoc(rng, i)
		docs = append(docs, md)
		if _, err := tab.Append(md); err != nil {
			t.Fatal(err)
		}
	}
	check := func(name string, live Bitmap, isLive func(int) bool) {
		t.Helper()
		for _, m := range []int{1, 3, 5, 50} {
			got := tab.Facets(live, m)
			want := truncate(brute(docs, isLive), m)
			if !reflect.DeepEqual(got, want) {
				for k := range want {
					if !reflect.DeepEqual(got[k], want[k]) {
						t.Errorf("%s, max %d, field %s:\n got %+v\nwant %+v", name, m, k, got[k], want[k])
					}
				}
				for k := range got {
					if _, ok := want[k]; !ok {
						t.Errorf("%s: extra field %s: %+v", name, k, got[k])
					}
				}
			}
		}
	}
	check("all", nil, func(int) bool { return true })
	// A snapshot's live set: some ordinals dead, and ordinals beyond it
	// (appended by a later generation) masked out.
	live := NewBitmap(n - 50)
	for i := range n - 50 {
		if rng.IntN(4) > 0 {
			live.Set(uint32(i))
		}
	}
	check("live", live, func(i int) bool { return live.Has(uint32(i)) })
	// Table deletions are never counted.
	for i := 0; i < n; i += 3 {
		tab.Delete(uint32(i))
	}
	check("deleted", live, func(i int) bool { return i%3 != 0 && live.Has(uint32(i)) })

	f := tab.Facets(nil, 50)
	for field, want := range map[string]FieldType{"task": TypeString, "tags": TypeString, "likes": TypeNumber, "lastModified": TypeTime,
		"private": TypeBool, "mixed": TypeMixed, "config.model_type": TypeString, "only_empty": TypeString} {
		if f[field].Type != want {
			t.Errorf("%s: type %s, want %s", field, f[field].Type, want)
		}
	}
	if f["tags"].Truncated || len(f["tags"].Values) != 12 || f["only_empty"].Values != nil || f["likes"].Values != nil {
		t.Errorf("values: tags %+v, only_empty %+v, likes %+v", f["tags"], f["only_empty"], f["likes"])
	}
	if tab.Facets(nil, 0)["task"].Values != nil {
		t.Error("maxValues 0 lists values")
	}
	// No live document: no facets.
	if got := tab.Facets(Bitmap{}, 5); len(got) != 0 {
		t.Errorf("empty live set: %v", got)
	}
}

func TestFacetsEdgeTypes(t *testing.T) {
	tab := NewTable()
	at := time.Date(2024, 5, 6, 7, 8, 9, 500, time.UTC)
	for _, md := range []map[string]any{
		{"when": at, "flag": "true", "big": json.Number("1e400"), "dates": []any{"2020-01-01", "not a date"}},
		{"when": at.Add(time.Hour), "flag": "false", "big": json.Number("5")},
	} {
		if _, err := tab.Append(md); err != nil {
			t.Fatal(err)
		}
	}
	f := tab.Facets(nil, 10)
	if w := f["when"]; w.Type != TypeTime || w.Min != "2024-05-06T07:08:09.0000005Z" || w.Max != "2024-05-06T08:08:09.0000005Z" || !w.Sortable {
		t.Errorf("time.Time field: %+v", w)
	}
	// Strings "true"/"false" never written as booleans are strings.
	if f["flag"].Type != TypeString {
		t.Errorf("flag: %+v", f["flag"])
	}
	// A value beyond float64 is left out of min/max.
	if b := f["big"]; b.Type != TypeNumber || b.Min != 5.0 || b.Max != 5.0 {
		t.Errorf("big: %+v", b)
	}
	if d := f["dates"]; d.Type != TypeString || len(d.Values) != 2 || d.Min != nil {
		t.Errorf("dates and strings: %+v", d)
	}
	b, _ := json.Marshal(f["when"])
	if !strings.Contains(string(b), `"min":"2024-05-06T07:08:09.0000005Z"`) || strings.Contains(string(b), "values") {
		t.Errorf("JSON %s", b)
	}
}

// BenchmarkFacets: facets of a 64k-document hub-like table (a page load of
// the server, without the per-generation cache).
func BenchmarkFacets(b *testing.B) {
	for _, n := range []int{1 << 14, 1 << 16} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			tab := NewTable()
			for i := range n {
				md := facetDoc(rng, i)
				md["sha"] = fmt.Sprintf("%040x", rng.Uint64()) // one distinct string per document
				tab.Append(md)
			}
			live := tab.Live()
			for i := 0; i < n; i += 10 {
				live.Unset(uint32(i))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if f := tab.Facets(live, 50); len(f) < 8 {
					b.Fatal(len(f))
				}
			}
		})
	}
}
