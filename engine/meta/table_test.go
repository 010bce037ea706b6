package meta_test

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quarry-search/quarry/engine/ingest"
	"github.com/quarry-search/quarry/engine/meta"
)

// ---- a brute-force evaluator over the raw metadata, written from the
// package documentation, independent of the columns ----

// bruteValues returns the scalars of field in md, and whether the field is
// present (not null or missing).
func bruteValues(md map[string]any, field string) (vals []any, present bool) {
	var add func(v any, depth int)
	add = func(v any, depth int) {
		switch v := v.(type) {
		case nil:
		case map[string]any: // objects are not values
		case []any:
			present = true
			for _, e := range v {
				add(e, depth)
			}
		case []string:
			present = true
			for _, e := range v {
				vals = append(vals, e)
			}
		default:
			present = true
			vals = append(vals, v)
		}
	}
	// The field as a top-level key (which may hold dots).
	if v, ok := md[field]; ok {
		add(v, 0)
	}
	// The field as prefix.key, one object level down, through arrays.
	for i := 0; i < len(field); i++ {
		if field[i] != '.' {
			continue
		}
		prefix, key := field[:i], field[i+1:]
		var down func(v any)
		down = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				if x, ok := v[key]; ok {
					switch x := x.(type) {
					case []any:
						present = true
						for _, e := range x {
							addShallow(e, &vals)
						}
					default:
						if x != nil {
							if _, isObj := x.(map[string]any); !isObj {
								present = true
								vals = append(vals, x)
							}
						}
					}
				}
			case []any:
				for _, e := range v {
					down(e)
				}
			}
		}
		down(md[prefix])
	}
	return vals, present
}

// addShallow adds the scalars of an array element one level down: nested
// arrays are flattened, objects ignored.
func addShallow(e any, vals *[]any) {
	switch e := e.(type) {
	case nil, map[string]any:
	case []any:
		for _, x := range e {
			addShallow(x, vals)
		}
	default:
		*vals = append(*vals, e)
	}
}

func bruteNumber(v any) (float64, bool) {
	switch v := v.(type) {
	case json.Number:
		f, err := v.Float64()
		return f, err == nil || strings.Contains(err.Error(), "range")
	case float64:
		return v, true
	case int:
		return float64(v), true
	}
	return 0, false
}

func bruteTime(v any) (time.Time, bool) {
	switch v := v.(type) {
	case string:
		return meta.ParseTime(v)
	case time.Time:
		return v, true
	}
	return time.Time{}, false
}

func bruteString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return fmt.Sprint(v), true
	}
	return "", false
}

func bruteEq(v any, fv string) bool {
	if s, ok := bruteString(v); ok && s == fv {
		return true
	}
	if n, ok := bruteNumber(v); ok {
		if x, ok := meta.ParseNumber(fv); ok && n == x {
			return true
		}
	}
	if tv, ok := bruteTime(v); ok {
		if x, ok := meta.ParseTime(fv); ok && tv.Equal(x) {
			return true
		}
	}
	return false
}

func bruteMatch(md map[string]any, f meta.Filter) bool {
	vals, present := bruteValues(md, meta.CanonicalField(f.Field))
	if !present {
		return false
	}
	anyOf := func(pred func(any) bool) bool { return slices.ContainsFunc(vals, pred) }
	switch f.Op {
	case meta.Eq, meta.Ne:
		eq := anyOf(func(v any) bool { return slices.ContainsFunc(f.Values, func(fv string) bool { return bruteEq(v, fv) }) })
		return eq == (f.Op == meta.Eq)
	}
	test := func(c int) bool {
		switch f.Op {
		case meta.Lt:
			return c < 0
		case meta.Le:
			return c <= 0
		case meta.Gt:
			return c > 0
		}
		return c >= 0
	}
	if x, ok := meta.ParseNumber(f.Values[0]); ok {
		return anyOf(func(v any) bool { n, ok := bruteNumber(v); return ok && test(cmp.Compare(n, x)) })
	}
	if x, ok := meta.ParseTime(f.Values[0]); ok {
		return anyOf(func(v any) bool { tv, ok := bruteTime(v); return ok && test(tv.Compare(x)) })
	}
	return false
}

// bruteSort sorts ords as the package documentation says.
func bruteSort(mds []map[string]any, ords []uint32, field string, desc bool) []uint32 {
	type key struct {
		kind int
		num  float64
		tm   time.Time
		str  string
	}
	keyOf := func(md map[string]any) key {
		vals, _ := bruteValues(md, meta.CanonicalField(field))
		var nums []float64
		var tms []time.Time
		var strs []string
		for _, v := range vals {
			if n, ok := bruteNumber(v); ok {
				nums = append(nums, n)
			}
			if tv, ok := bruteTime(v); ok {
				tms = append(tms, tv)
			}
			if s, ok := bruteString(v); ok {
				strs = append(strs, s)
			}
		}
		pick := func(n int, less func(i, j int) bool) int {
			best := 0
			for i := 1; i < n; i++ {
				if desc && less(best, i) || !desc && less(i, best) {
					best = i
				}
			}
			return best
		}
		switch {
		case len(nums) > 0:
			return key{kind: 0, num: nums[pick(len(nums), func(i, j int) bool { return nums[i] < nums[j] })]}
		case len(tms) > 0:
			return key{kind: 1, tm: tms[pick(len(tms), func(i, j int) bool { return tms[i].Before(tms[j]) })]}
		case len(strs) > 0:
			return key{kind: 2, str: strs[pick(len(strs), func(i, j int) bool { return strs[i] < strs[j] })]}
		}
		return key{kind: 3}
	}
	out := slices.Clone(ords)
	slices.SortStableFunc(out, func(a, b uint32) int {
		ka, kb := keyOf(mds[a]), keyOf(mds[b])
		if ka.kind == 3 || kb.kind == 3 {
			return cmp.Compare(ka.kind, kb.kind)
		}
		var c int
		switch {
		case ka.kind != kb.kind:
			c = cmp.Compare(ka.kind, kb.kind)
		case ka.kind == 0:
			c = cmp.Compare(ka.num, kb.num)
		case ka.kind == 1:
			c = ka.tm.Compare(kb.tm)
		default:
			c = strings.Compare(ka.str, kb.str)
		}
		if desc {
			c = -c
		}
		return c
	})
	return out
}

// ---- the hf_data fixture ----

func hfTable(t testing.TB) (*meta.Table, []map[string]any, []string) {
	t.Helper()
	r, err := ingest.Open("../../testdata/corpora/hf_data", ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tb := meta.NewTable()
	var mds []map[string]any
	var ids []string
	for {
		doc, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ord, err := tb.Append(doc.Metadata)
		if err != nil || int(ord) != len(mds) {
			t.Fatalf("Append: %d, %v", ord, err)
		}
		mds = append(mds, doc.Metadata)
		ids = append(ids, strings.TrimPrefix(doc.ID, "example-org/"))
	}
	return tb, mds, ids
}

func TestHFData(t *testing.T) {
	tb, mds, ids := hfTable(t)
	names := func(bm meta.Bitmap) []string {
		var out []string
		bm.ForEach(func(i uint32) bool { out = append(out, ids[i]); return true })
		return out
	}
	asr, bird, minilm, empty := "asr-french-small", "bird-sound-classifier", "minilm-sentence-embeddings", "empty-card"
	for _, tc := range []struct {
		filters []string
		want    []string
	}{
		{nil, []string{asr, bird, minilm, empty}},
		{[]string{"task=automatic-speech-recognition"}, []string{asr}},
		{[]string{"pipeline_tag=automatic-speech-recognition,sentence-similarity"}, []string{asr, minilm}},
		{[]string{"library_name=transformers,speechbrain"}, []string{asr, bird}},
		{[]string{"task=automatic-speech-recognition,audio-classification", "library_name=speechbrain"}, []string{bird}},
		{[]string{"pipeline_tag!=audio-classification"}, []string{asr, minilm}}, // the null one never matches
		{[]string{"likes>=12"}, []string{asr, minilm}},
		{[]string{"likes>12"}, []string{minilm}},
		{[]string{"likes<=0"}, []string{empty}},
		{[]string{"likes=12.0"}, []string{asr}},
		{[]string{"downloads>1000.5", "downloads<1e6"}, []string{asr}},
		{[]string{"lastModified>=2022-01-01"}, []string{bird, minilm}},
		{[]string{"lastModified<2021-12-18T09:13:00Z"}, []string{asr, empty}},
		{[]string{"lastModified=2021-12-18T10:12:59+01:00"}, []string{asr}}, // the same instant
		{[]string{"lastModified>2022-03-02T17:40:11Z"}, []string{minilm}},
		{[]string{"tags=bert,fr"}, []string{asr, minilm}},
		{[]string{"tags!=en"}, []string{asr, bird, empty}}, // [] has no "en"
		{[]string{"private=false"}, []string{asr, bird, minilm, empty}},
		{[]string{"private=true"}, nil},
		{[]string{"config.model_type=bert"}, []string{minilm}},
		{[]string{"config.architectures=Wav2Vec2ForCTC"}, []string{asr}},
		{[]string{"siblings.rfilename=config.json"}, []string{asr, minilm}},
		{[]string{"config.model_type!=bert"}, []string{asr}},
		{[]string{"modelId=example-org/empty-card"}, []string{empty}},
		{[]string{"nosuchfield=x"}, nil},
		{[]string{"nosuchfield!=x"}, nil},
		{[]string{"likes=abc"}, nil},
		{[]string{"library_name>=1"}, nil},
	} {
		var fs []meta.Filter
		for _, s := range tc.filters {
			f, err := meta.ParseFilter(s)
			if err != nil {
				t.Fatal(err)
			}
			fs = append(fs, f)
		}
		got := names(tb.Match(fs))
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %q, want %q", tc.filters, got, tc.want)
		}
		for i, md := range mds {
			want := true
			for _, f := range fs {
				want = want && bruteMatch(md, f)
			}
			if tb.Match(fs).Has(uint32(i)) != want {
				t.Errorf("%q: brute force disagrees on %s", tc.filters, ids[i])
			}
		}
	}
	for _, tc := range []struct {
		sort string
		want []string
	}{
		{"likes:desc", []string{minilm, asr, bird, empty}},
		{"likes", []string{empty, bird, asr, minilm}},
		{"downloads:desc", []string{minilm, asr, bird, empty}},
		{"lastModified:desc", []string{minilm, bird, asr, empty}},
		{"lastModified:asc", []string{empty, asr, bird, minilm}},
		{"task:asc", []string{bird, asr, minilm, empty}},          // null last
		{"task:desc", []string{minilm, asr, bird, empty}},         // null still last
		{"library_name:desc", []string{asr, bird, minilm, empty}}, // transformers > speechbrain > sentence-transformers
		{"tags:asc", []string{bird, asr, minilm, empty}},          // smallest tags: audio-classification < automatic-speech-recognition < bert; [] last
		{"tags:desc", []string{asr, minilm, bird, empty}},         // largest tags: wav2vec2 > sentence-transformers > pytorch
		{"nosuch:desc", []string{asr, bird, minilm, empty}},
	} {
		spec, err := meta.ParseSort(tc.sort)
		if err != nil {
			t.Fatal(err)
		}
		ords := []uint32{0, 1, 2, 3}
		tb.Sort(ords, spec.Field, spec.Desc)
		var got []string
		for _, o := range ords {
			got = append(got, ids[o])
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("sort %s: %q, want %q", tc.sort, got, tc.want)
		}
		if want := bruteSort(mds, []uint32{0, 1, 2, 3}, spec.Field, spec.Desc); !reflect.DeepEqual(ords, want) {
			t.Errorf("sort %s: brute force gives %v, table %v", tc.sort, want, ords)
		}
	}
}

func TestCheck(t *testing.T) {
	tb, _, _ := hfTable(t)
	for s, msg := range map[string]string{
		"likes>=2022-01-01":        "likes holds numbers, no dates",
		"lastModified>2022":        "lastModified holds dates, no numbers",
		"nosuch=x":                 `no document has a field "nosuch"`,
		"likes=many":               `likes holds numbers; "many" is not a number`,
		"pipeline_tag>=1":          "no numbers",
		"task=text-classification": "",
		"likes>=10":                "",
		"lastModified<2022-01-01":  "",
		"tags=en":                  "",
		"private=true":             "",
	} {
		f, err := meta.ParseFilter(s)
		if err != nil {
			t.Fatal(err)
		}
		err = tb.Check([]meta.Filter{f})
		if msg == "" && err != nil || msg != "" && (err == nil || !strings.Contains(err.Error(), msg)) {
			t.Errorf("Check(%s) = %v, want ...%s...", s, err, msg)
		}
	}
	if !tb.HasField("task") || tb.HasField("readme") {
		t.Error("HasField")
	}
	if fields := tb.Fields(); !slices.Contains(fields, "siblings.rfilename") || !slices.Contains(fields, "config.model_type") || !slices.IsSorted(fields) {
		t.Errorf("Fields %q", fields)
	}
	// A hand-made filter that ParseFilter would refuse matches nothing.
	bad := meta.Filter{Field: "likes", Op: meta.Gt, Values: []string{"lots"}}
	if tb.Match([]meta.Filter{bad}).Count() != 0 || tb.Check([]meta.Filter{bad}) == nil {
		t.Error("invalid hand-made filter")
	}
}

// ---- a generated table ----

// genDoc makes awkward metadata: mixed kinds per field, lists, nulls,
// missing fields, nested objects, dates in several forms.
func genDoc(r *rand.Rand) map[string]any {
	md := map[string]any{}
	pick := func(vals ...any) any { return vals[r.IntN(len(vals))] }
	num := func() any {
		return pick(json.Number(fmt.Sprint(r.IntN(20))), json.Number(fmt.Sprintf("%d.5", r.IntN(20))), json.Number("-3"), json.Number("1e1"),
			json.Number("10.0"), float64(r.IntN(20)), r.IntN(20), json.Number("1e400"))
	}
	date := func() any {
		return pick("2022-01-01", "2022-01-01T00:00:00Z", "2021-12-31T23:00:00-01:00", fmt.Sprintf("2022-%02d-%02dT10:00:00.5Z", 1+r.IntN(12), 1+r.IntN(28)),
			"2022-06", time.Date(2022, time.Month(1+r.IntN(12)), 1, 0, 0, 0, 0, time.UTC), "2022-02-30", "not a date")
	}
	str := func() any { return pick("a", "b", "c", "A", "", "a,b", "12", "true", "é") }
	if r.IntN(10) > 0 {
		md["s"] = pick(str(), str(), nil)
	}
	if r.IntN(10) > 0 {
		md["n"] = pick(num(), num(), nil, "7", []any{num(), num()}, []any{})
	}
	if r.IntN(10) > 0 {
		md["d"] = pick(date(), date(), nil, []any{date(), date()})
	}
	if r.IntN(10) > 0 {
		var tags []any
		for range r.IntN(4) {
			tags = append(tags, pick(str(), str(), nil, num(), []any{str()}))
		}
		md["tags"] = pick(any(tags), any(tags), nil, []string{"a", "x"})
	}
	if r.IntN(3) > 0 {
		md["b"] = pick(true, false, nil)
	}
	if r.IntN(2) > 0 {
		md["obj"] = map[string]any{"k": pick(str(), num(), nil, []any{str(), num()}), "deep": map[string]any{"x": num()}}
	}
	if r.IntN(2) > 0 {
		md["objs"] = []any{map[string]any{"name": str()}, map[string]any{"name": pick(str(), nil)}, []any{map[string]any{"name": str()}}, str()}
	}
	if r.IntN(4) == 0 {
		md["dot.key"] = str()
	}
	if r.IntN(2) > 0 {
		md["mixed"] = pick(str(), num(), date(), true)
	}
	return md
}

func genFilter(r *rand.Rand) meta.Filter {
	fields := []string{"s", "n", "d", "tags", "b", "obj.k", "obj.deep.x", "obj.deep", "objs.name", "objs", "dot.key", "mixed", "missing", "obj"}
	vals := []string{"a", "b", "A", "", "a,b", "12", "7", "true", "false", "é", "10", "1e1", "-3", "3.5", "1e400", "2022-01-01", "2022-01-01T00:00:00Z",
		"2022-06-01", "2022-06", "not a date", "x", "0"}
	f := meta.Filter{Field: fields[r.IntN(len(fields))], Op: meta.Op(r.IntN(6))}
	switch f.Op {
	case meta.Eq, meta.Ne:
		for range 1 + r.IntN(3) {
			f.Values = append(f.Values, vals[r.IntN(len(vals))])
		}
	default:
		f.Values = []string{[]string{"0", "5", "10", "-3", "12.5", "1e400", "2022-01-01", "2022-06-15T12:00:00+02:00", "2021-12-31T23:00:00-01:00"}[r.IntN(9)]}
	}
	return f
}

func TestGenerated(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const n = 10000
	tb := meta.NewTable()
	mds := make([]map[string]any, n)
	for i := range mds {
		mds[i] = genDoc(r)
		if _, err := tb.Append(mds[i]); err != nil {
			t.Fatal(err)
		}
	}
	deleted := map[uint32]bool{}
	for range 300 {
		o := uint32(r.IntN(n))
		deleted[o] = true
		if err := tb.Delete(o); err != nil {
			t.Fatal(err)
		}
	}
	if tb.Live().Count() != n-len(deleted) || !tb.Deleted(func() uint32 {
		for o := range deleted {
			return o
		}
		return 0
	}()) {
		t.Fatal("Live/Deleted")
	}
	rounds := 600
	if testing.Short() {
		rounds = 100
	}
	matched := 0
	for range rounds {
		var fs []meta.Filter
		for range 1 + r.IntN(3) {
			fs = append(fs, genFilter(r))
		}
		got := tb.Match(fs)
		for i, md := range mds {
			want := !deleted[uint32(i)]
			for _, f := range fs {
				want = want && bruteMatch(md, f)
			}
			if got.Has(uint32(i)) != want {
				t.Fatalf("%v: ordinal %d %v: table %v, brute force %v", fs, i, md, !want, want)
			}
		}
		matched += got.Count()
	}
	t.Logf("%d filter sets, %.1f matches each on average", rounds, float64(matched)/float64(rounds))
	for _, field := range []string{"s", "n", "d", "tags", "b", "obj.k", "objs.name", "mixed", "missing"} {
		for _, desc := range []bool{false, true} {
			ords := make([]uint32, 0, 2000)
			for range 2000 {
				ords = append(ords, uint32(r.IntN(n)))
			}
			want := bruteSort(mds, ords, field, desc)
			tb.Sort(ords, field, desc)
			if !reflect.DeepEqual(ords, want) {
				t.Errorf("sort %s desc=%v differs from brute force", field, desc)
			}
		}
	}
}

func TestAppendErrors(t *testing.T) {
	tb := meta.NewTable()
	for _, md := range []map[string]any{
		{"x": struct{}{}},
		{"x": []any{1, make(chan int)}},
		{"x": json.Number("twelve")},
		{"x": map[string]any{"y": float64(0) / func() float64 { return 0 }()}},
	} {
		if _, err := tb.Append(md); err == nil || !strings.HasPrefix(err.Error(), "meta: field x: ") {
			t.Errorf("Append(%v) = %v", md, err)
		}
	}
	if tb.Len() != 0 || len(tb.Fields()) != 0 {
		t.Errorf("a failed Append changed the table: %d %v", tb.Len(), tb.Fields())
	}
	if err := tb.Delete(0); err == nil {
		t.Error("Delete past the end")
	}
	if ord, err := tb.Append(nil); err != nil || ord != 0 {
		t.Errorf("Append(nil) = %d, %v", ord, err)
	}
}

func TestConcurrent(t *testing.T) {
	tb := meta.NewTable()
	r := rand.New(rand.NewPCG(1, 1))
	for range 2000 {
		tb.Append(genDoc(r))
	}
	f, _ := meta.ParseFilter("s=a,b")
	var wg sync.WaitGroup
	want := tb.Match([]meta.Filter{f}).Count()
	errs := make(chan error, 8)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if got := tb.Match([]meta.Filter{f}).Count(); got < want {
					errs <- errors.New("fewer matches while appending")
					return
				}
				ords := tb.Live().Ords()
				tb.Sort(ords, "n", true)
			}
		}()
	}
	for i := range 200 {
		tb.Append(map[string]any{"s": "a", "n": i})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// ---- benchmarks on a million documents shaped like Hub models ----

var (
	benchOnce  sync.Once
	benchTable *meta.Table
)

const benchDocs = 1_000_000

func hubTable(b *testing.B) *meta.Table {
	benchOnce.Do(func() {
		r := rand.New(rand.NewPCG(5, 6))
		tasks := []string{"text-classification", "token-classification", "fill-mask", "sentence-similarity", "feature-extraction", "automatic-speech-recognition", "text-generation", "translation", "summarization", "image-classification"}
		libs := []string{"transformers", "sentence-transformers", "speechbrain", "timm", "diffusers", "peft", "spacy"}
		tb := meta.NewTable()
		for i := range benchDocs {
			md := map[string]any{
				"modelId":      fmt.Sprintf("org%d/model-%d", i%5000, i),
				"pipeline_tag": tasks[r.IntN(len(tasks))],
				"library_name": libs[r.IntN(len(libs))],
				"likes":        json.Number(fmt.Sprint(r.IntN(3000))),
				"downloads":    json.Number(fmt.Sprintf("%d.0", r.IntN(1_000_000))),
				"lastModified": time.Date(2019+r.IntN(6), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), 0, 0, 0, time.UTC).Format("2006-01-02T15:04:05.000Z"),
				"tags":         []any{tasks[r.IntN(len(tasks))], libs[r.IntN(len(libs))], "en"},
				"private":      false,
			}
			if r.IntN(10) == 0 {
				md["pipeline_tag"] = nil
			}
			if _, err := tb.Append(md); err != nil {
				panic(err)
			}
		}
		benchTable = tb
	})
	return benchTable
}

func benchMatch(b *testing.B, filters ...string) {
	tb := hubTable(b)
	var fs []meta.Filter
	for _, s := range filters {
		f, err := meta.ParseFilter(s)
		if err != nil {
			b.Fatal(err)
		}
		fs = append(fs, f)
	}
	b.ResetTimer()
	for b.Loop() {
		tb.Match(fs)
	}
	b.ReportMetric(float64(benchDocs)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mdocs/s")
}

func BenchmarkMatchEq(b *testing.B) { benchMatch(b, "task=text-classification") }
func BenchmarkMatchEqMulti(b *testing.B) {
	benchMatch(b, "task=text-classification,fill-mask,translation")
}
func BenchmarkMatchNe(b *testing.B)     { benchMatch(b, "library_name!=transformers") }
func BenchmarkMatchTags(b *testing.B)   { benchMatch(b, "tags=fill-mask") }
func BenchmarkMatchNumber(b *testing.B) { benchMatch(b, "likes>=1000") }
func BenchmarkMatchDate(b *testing.B)   { benchMatch(b, "lastModified>=2023-01-01") }
func BenchmarkMatchThree(b *testing.B) {
	benchMatch(b, "task=text-classification,fill-mask", "library_name=transformers", "downloads>100000")
}

func BenchmarkSort10k(b *testing.B) {
	tb := hubTable(b)
	r := rand.New(rand.NewPCG(9, 9))
	base := make([]uint32, 10000)
	for i := range base {
		base[i] = uint32(r.IntN(benchDocs))
	}
	ords := make([]uint32, len(base))
	for _, field := range []string{"likes", "lastModified", "pipeline_tag"} {
		b.Run(field, func(b *testing.B) {
			for b.Loop() {
				copy(ords, base)
				tb.Sort(ords, field, true)
			}
		})
	}
}

func BenchmarkAppend(b *testing.B) {
	md := map[string]any{"pipeline_tag": "fill-mask", "likes": json.Number("12"), "lastModified": "2022-01-01T00:00:00.000Z", "tags": []any{"a", "b", "en"}, "config": map[string]any{"model_type": "bert"}}
	tb := meta.NewTable()
	for b.Loop() {
		tb.Append(md)
	}
}
