package meta

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseFilter(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Filter
	}{
		{"task=text-classification", Filter{"pipeline_tag", Eq, []string{"text-classification"}}},
		{"library_name=transformers,speechbrain", Filter{"library_name", Eq, []string{"transformers", "speechbrain"}}},
		{"tags==en", Filter{"tags", Eq, []string{"en"}}},
		{"tags!=en, fr", Filter{"tags", Ne, []string{"en", "fr"}}},
		{"likes>=10", Filter{"likes", Ge, []string{"10"}}},
		{" likes > -1.5e3 ", Filter{"likes", Gt, []string{"-1.5e3"}}},
		{"downloads<1000", Filter{"downloads", Lt, []string{"1000"}}},
		{"lastModified<=2022-01-01", Filter{"lastModified", Le, []string{"2022-01-01"}}},
		{"lastModified>2022-01-01T10:00:00.5+02:00", Filter{"lastModified", Gt, []string{"2022-01-01T10:00:00.5+02:00"}}},
		{`name="a,b",c`, Filter{"name", Eq, []string{"a,b", "c"}}},
		{`name= "a \"q\" \\ b" , "" `, Filter{"name", Eq, []string{`a "q" \ b`, ""}}},
		{`config.model_type=bert`, Filter{"config.model_type", Eq, []string{"bert"}}},
		{`x=a=b`, Filter{"x", Eq, []string{"a=b"}}},
		{`x=<tag>`, Filter{"x", Eq, []string{"<tag>"}}},
	} {
		got, err := ParseFilter(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseFilter(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		// String gives it back in a form that parses to the same filter.
		again, err := ParseFilter(got.String())
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("ParseFilter(%q.String() = %q) = %+v, %v", tc.in, got.String(), again, err)
		}
	}
}

func TestParseFilterErrors(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"likes", "no operator"},
		{"=x", "no field name"},
		{"a b=x", "has a space"},
		{"x!y", "unknown operator"},
		{"x=", "no value"},
		{"x=a,", "a comma ends"},
		{"x=a,,b", "value 2 is empty"},
		{`x="a`, "unterminated quote"},
		{`x="a"b`, `"b" after the closing quote`},
		{`x=a"b`, "quote inside"},
		{`x="a\n"`, "backslash"},
		{"likes>=abc", `"abc" is neither a number nor a date`},
		{"likes>=1,2", "takes one value"},
		{"likes>=", "no value"},
		{"likes<NaN", "neither a number"},
		{"likes<0x10", "neither a number"},
		{"likes<Inf", "neither a number"},
		{"lastModified>2022-02-30", "neither a number nor a date"},
		{"lastModified>2022-13-01", "neither"},
	} {
		_, err := ParseFilter(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), `filter "`) {
			t.Errorf("ParseFilter(%q) = %v, want ...%s...", tc.in, err, tc.msg)
		}
	}
}

func TestParseSort(t *testing.T) {
	for in, want := range map[string]SortSpec{
		"likes:desc": {"likes", true}, "likes": {"likes", false}, "likes:asc": {"likes", false},
		"task:DESC": {"pipeline_tag", true}, " downloads : desc ": {"downloads", true},
	} {
		got, err := ParseSort(in)
		if err != nil || got != want {
			t.Errorf("ParseSort(%q) = %+v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", ":desc", "likes:down", "likes:"} {
		if _, err := ParseSort(in); err == nil {
			t.Errorf("ParseSort(%q): no error", in)
		}
	}
	if s := (SortSpec{"likes", true}).String(); s != "likes:desc" {
		t.Errorf("String %q", s)
	}
}

func TestParseTime(t *testing.T) {
	utc := func(y, mo, d, h, mi, s, ns int) time.Time {
		return time.Date(y, time.Month(mo), d, h, mi, s, ns, time.UTC)
	}
	for in, want := range map[string]time.Time{
		"2022-01-01":                     utc(2022, 1, 1, 0, 0, 0, 0),
		"2022-03":                        utc(2022, 3, 1, 0, 0, 0, 0),
		"2021-12-18T09:12:59.000Z":       utc(2021, 12, 18, 9, 12, 59, 0),
		"2021-12-18t09:12:59.123456789z": utc(2021, 12, 18, 9, 12, 59, 123456789),
		"2021-12-18 09:12":               utc(2021, 12, 18, 9, 12, 0, 0),
		"2021-12-18T09:12:59+02:00":      utc(2021, 12, 18, 7, 12, 59, 0),
		"2021-12-18T09:12:59-0130":       utc(2021, 12, 18, 10, 42, 59, 0),
		"2021-12-18T09:12:59+05":         utc(2021, 12, 18, 4, 12, 59, 0),
		"2024-02-29":                     utc(2024, 2, 29, 0, 0, 0, 0),
		"0001-01-01T00:00:00Z":           utc(1, 1, 1, 0, 0, 0, 0),
	} {
		got, ok := ParseTime(in)
		if !ok || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "2022", "2022-1-01", "2022-01-1", "2023-02-29", "2022-00-10", "2022-01-32", "2022-01-01T", "2022-01-01T24:00",
		"2022-01-01T10", "2022-01-01T10:60", "2022-01-01T10:00:60", "2022-01-01T10:00:00.", "2022-01-01T10:00Zx", "2022-01-01x", "yesterday", "12", "2022-01-01T10:00+5"} {
		if got, ok := ParseTime(in); ok {
			t.Errorf("ParseTime(%q) = %v, want not a date", in, got)
		}
	}
}

func TestParseNumber(t *testing.T) {
	for in, want := range map[string]float64{"0": 0, "-1": -1, "+2.5": 2.5, "1e3": 1000, "1.5E-2": 0.015, ".5": 0.5, "5.": 5} {
		if got, ok := ParseNumber(in); !ok || got != want {
			t.Errorf("ParseNumber(%q) = %v, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "-", "e3", "1e", "0x10", "1_000", "NaN", "Inf", "-infinity", "1e999", "1,5", " 1", "2022-01-01"} {
		if got, ok := ParseNumber(in); ok {
			t.Errorf("ParseNumber(%q) = %v, want not a number", in, got)
		}
	}
}

func TestBitmap(t *testing.T) {
	b := NewBitmap(130)
	if len(b) != 3 || b.Count() != 0 || b.Has(5) || b.Has(1000) {
		t.Fatalf("new bitmap %v", b)
	}
	for _, i := range []uint32{0, 63, 64, 129} {
		b.Set(i)
	}
	b.Set(200) // grows
	if len(b) != 4 || !b.Has(200) || b.Count() != 5 {
		t.Fatalf("after Set: %v", b)
	}
	if got := b.Ords(); !reflect.DeepEqual(got, []uint32{0, 63, 64, 129, 200}) {
		t.Errorf("Ords %v", got)
	}
	b.Unset(63)
	b.Unset(5000)
	o := NewBitmap(65)
	o.Set(0)
	o.Set(64)
	o.Set(1)
	c := b.Clone()
	c.And(o)
	if got := c.Ords(); !reflect.DeepEqual(got, []uint32{0, 64}) {
		t.Errorf("And %v", got)
	}
	c = b.Clone()
	c.AndNot(o)
	if got := c.Ords(); !reflect.DeepEqual(got, []uint32{129, 200}) {
		t.Errorf("AndNot %v", got)
	}
	var d Bitmap
	d.Or(o)
	d.Or(b)
	if got := d.Ords(); !reflect.DeepEqual(got, []uint32{0, 1, 64, 129, 200}) {
		t.Errorf("Or %v", got)
	}
	n := 0
	d.ForEach(func(uint32) bool { n++; return n < 2 })
	if n != 2 {
		t.Errorf("ForEach did not stop: %d", n)
	}
	if NewBitmap(0) != nil || Bitmap(nil).Clone() != nil || Bitmap(nil).Count() != 0 {
		t.Error("empty bitmaps")
	}
}

// FuzzParseFilter: ParseFilter never panics, and what it accepts String
// writes back in a form that parses to the same filter.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"task=a,b", `x="a,b",c`, "likes>=1e3", "d<2022-01-01T00:00Z", `x="\"\\"`, "x!=", "=", "a==b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter(s)
		if err != nil {
			return
		}
		again, err := ParseFilter(flt.String())
		if err != nil || !reflect.DeepEqual(again, flt) {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, flt, flt.String(), again, err)
		}
		ParseTime(s)
		ParseNumber(s)
	})
}

// FuzzParseSort: ParseSort never panics, refuses with a message that quotes
// the spec, and what it accepts has a canonical non-empty field and String
// writes back in a form that parses to the same spec.
func FuzzParseSort(f *testing.F) {
	for _, s := range []string{"likes", "likes:desc", " downloads : ASC ", "task:desc", ":asc", "a:b:c", "x:", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := ParseSort(s)
		if err != nil {
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) {
				t.Fatalf("%q: the error %q does not quote the spec", s, err)
			}
			return
		}
		if spec.Field == "" || CanonicalField(spec.Field) != spec.Field || strings.TrimSpace(spec.Field) != spec.Field {
			t.Fatalf("%q: field %q", s, spec.Field)
		}
		again, err := ParseSort(spec.String())
		if err != nil || again != spec {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, spec, spec.String(), again, err)
		}
	})
}
