package lexical

import (
	"reflect"
	"strings"
	"testing"

	"github.com/blevesearch/bleve/v2/registry"

	"github.com/quarry-search/quarry/engine/lexical/synth"
)

func TestAnalyzerTable(t *testing.T) {
	tests := []struct {
		name, in string
		en, std  []string
	}{
		{"stop words and stemming", "The quick brown foxes jumped over the lazy dogs",
			[]string{"quick", "brown", "fox", "jump", "lazi", "dog"},
			[]string{"the", "quick", "brown", "foxes", "jumped", "over", "the", "lazy", "dogs"}},
		{"possessive", "John's car", []string{"john", "car"}, []string{"john's", "car"}},
		{"possessive, curly apostrophe, upper case", "JOHN’S CARS", []string{"john", "car"}, []string{"john’s", "cars"}},
		{"plural possessive", "the dogs' bowls", []string{"dog", "bowl"}, []string{"the", "dogs", "bowls"}},
		{"porter stems", "connection connections connected connecting",
			[]string{"connect", "connect", "connect", "connect"},
			[]string{"connection", "connections", "connected", "connecting"}},
		{"porter is not a lemmatizer", "running runs ran runner",
			[]string{"run", "run", "ran", "runner"}, []string{"running", "runs", "ran", "runner"}},
		{"contractions are stop words", "Don't stop; isn't it's we're",
			[]string{"stop"}, []string{"don't", "stop", "isn't", "it's", "we're"}},
		{"unicode letters lowercase, accents kept", "naïve café Straße ÉCOLE",
			[]string{"naïv", "café", "straße", "école"}, []string{"naïve", "café", "straße", "école"}},
		{"cyrillic", "Привет мир", []string{"привет", "мир"}, []string{"привет", "мир"}},
		{"CJK ideographs one by one, katakana as a word", "東京タワー",
			[]string{"東", "京", "タワー"}, []string{"東", "京", "タワー"}},
		{"digits and numbers", "3.14 1,000 2024 v2 covid-19 a1b2",
			[]string{"3.14", "1,000", "2024", "v2", "covid", "19", "a1b2"},
			[]string{"3.14", "1,000", "2024", "v2", "covid", "19", "a1b2"}},
		{"punctuation", "e-mail foo_bar U.S.A. C++", []string{"e", "mail", "foo_bar", "u.s.a", "c"},
			[]string{"e", "mail", "foo_bar", "u.s.a", "c"}},
		{"only stop words", "the of and", nil, []string{"the", "of", "and"}},
		{"empty", "", nil, nil},
		{"blank", " \t\n ", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := English().Analyze(tc.in); !reflect.DeepEqual(got, tc.en) {
				t.Errorf("English(%q) = %q, want %q", tc.in, got, tc.en)
			}
			if got := Standard().Analyze(tc.in); !reflect.DeepEqual(got, tc.std) {
				t.Errorf("Standard(%q) = %q, want %q", tc.in, got, tc.std)
			}
		})
	}
}

// TestEnglishIsBleveEn checks that English is bleve's registered "en"
// analyzer, token for token.
func TestEnglishIsBleveEn(t *testing.T) {
	ref, err := registry.NewCache().AnalyzerNamed("en")
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{
		"The JOHN'S running dogs’ cats' 3.14 1,000 U.S.A. naïve Straße 東京タワー e-mail foo_bar don't isn't running's",
		"Generalization generalizations generalize; it's a truth universally acknowledged.",
	}
	for _, d := range synth.Corpus(synth.Options{Docs: 200, WordsPerDoc: 40, TitleWords: 5, Vocab: 3000, Seed: 7}) {
		texts = append(texts, d.Title+" "+d.Text)
	}
	for _, text := range texts {
		var want []string
		for _, tok := range ref.Analyze([]byte(text)) {
			want = append(want, string(tok.Term))
		}
		if got := English().Analyze(text); !reflect.DeepEqual(got, want) {
			t.Fatalf("English(%q) = %q, bleve en = %q", text, got, want)
		}
	}
}

// TestCombinedIsConcatenation checks the premise of the Combined field mode:
// analyzing title + " " + text gives the title's terms then the text's.
func TestCombinedIsConcatenation(t *testing.T) {
	for _, an := range []Analyzer{English(), Standard()} {
		for _, d := range append(synth.Corpus(synth.Options{Docs: 100, WordsPerDoc: 30, TitleWords: 6, Vocab: 2000, Seed: 3}),
			synth.Doc{Title: "Rock'n'roll", Text: "isn't it"}, synth.Doc{Title: "end.", Text: ".start"}, synth.Doc{Title: "a-", Text: "-b"}) {
			want := append(an.Analyze(d.Title), an.Analyze(d.Text)...)
			got := an.Analyze(d.Title + " " + d.Text)
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("%s: %q + %q: together %q, apart %q", an.Name(), d.Title, d.Text, got, want)
			}
		}
	}
}

// TestElasticEnglish shows where Elasticsearch's "english" analyzer (33
// stop words) differs from bleve's "en" (Snowball's 175). TestLucene*
// compares it with Lucene's EnglishAnalyzer itself.
func TestElasticEnglish(t *testing.T) {
	tests := []struct {
		in          string
		en, english []string
	}{
		{"How many people live in Berlin?", []string{"mani", "peopl", "live", "berlin"}, []string{"how", "mani", "peopl", "live", "berlin"}},
		{"What does DNA stand for?", []string{"dna", "stand"}, []string{"what", "doe", "dna", "stand"}},
		{"John's car isn't fast", []string{"john", "car", "fast"}, []string{"john", "car", "isn't", "fast"}},
		{"The quick brown foxes jumped over the lazy dogs",
			[]string{"quick", "brown", "fox", "jump", "lazi", "dog"},
			[]string{"quick", "brown", "fox", "jump", "over", "lazi", "dog"}},
	}
	for _, tc := range tests {
		if got := English().Analyze(tc.in); !reflect.DeepEqual(got, tc.en) {
			t.Errorf("English(%q) = %q, want %q", tc.in, got, tc.en)
		}
		if got := ElasticEnglish().Analyze(tc.in); !reflect.DeepEqual(got, tc.english) {
			t.Errorf("ElasticEnglish(%q) = %q, want %q", tc.in, got, tc.english)
		}
	}
}

func TestAnalyzerByName(t *testing.T) {
	for _, name := range []string{AnalyzerEnglish, AnalyzerElasticEnglish, AnalyzerStandard} {
		an, err := AnalyzerByName(name)
		if err != nil || an.Name() != name {
			t.Fatalf("AnalyzerByName(%q) = %v, %v", name, an.Name(), err)
		}
	}
	if _, err := AnalyzerByName("klingon"); err == nil {
		t.Fatal("AnalyzerByName(klingon) succeeded")
	}
	var zero Analyzer
	if got := zero.Analyze("hello"); got != nil {
		t.Fatalf("zero Analyzer gave %q", got)
	}
}
