package lexical

import (
	"fmt"
	"strings"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/token/porter"
	"github.com/blevesearch/bleve/v2/analysis/token/stop"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
)

// Analyzer names. The name is written into every segment file, and Open
// rebuilds the analyzer from it, so a query is always analyzed the way its
// documents were.
const (
	// AnalyzerEnglish is bleve's "en" analyzer, component for component:
	// the Unicode (UAX #29) word tokenizer, the English possessive filter
	// (drops a trailing 's, ’s or ＇s), lowercase, the Snowball English stop
	// word list, and the Porter stemmer. Elasticsearch's "english" analyzer,
	// which BEIR's BM25 baseline uses, has the same shape (standard
	// tokenizer, possessive, lowercase, English stop words, Porter).
	AnalyzerEnglish = "en"
	// AnalyzerElasticEnglish is Elasticsearch's "english" analyzer, the one
	// BEIR's BM25 baseline uses: the same pipeline as AnalyzerEnglish but
	// with Lucene's 33 English stop words (EnglishAnalyzer's
	// ENGLISH_STOP_WORDS_SET) instead of Snowball's 175, so "how", "what",
	// "who", "does" and the like are kept, as in Elasticsearch.
	AnalyzerElasticEnglish = "english"
	// AnalyzerStandard is the Unicode word tokenizer and lowercase only: no
	// stop words and no stemming, like Elasticsearch's "standard" analyzer.
	// (bleve's own "standard" analyzer also drops English stop words; this
	// one does not.)
	AnalyzerStandard = "standard"
)

// Analyzer turns text into index terms. It is immutable and safe for
// concurrent use. The zero value is not usable: get one from English,
// ElasticEnglish, Standard or AnalyzerByName.
type Analyzer struct {
	name string
	a    *analysis.DefaultAnalyzer
}

// English returns the AnalyzerEnglish analyzer.
func English() Analyzer {
	stopWords := analysis.NewTokenMap()
	// LoadBytes only fails on a reader error, which a bytes.Reader never has.
	_ = stopWords.LoadBytes(en.EnglishStopWords)
	return englishChain(AnalyzerEnglish, stopWords)
}

// englishChain is the English analysis both English analyzers share:
// Unicode tokens, possessives removed, lowercase, stopWords dropped, Porter
// stems.
func englishChain(name string, stopWords analysis.TokenMap) Analyzer {
	return Analyzer{
		name: name,
		a: &analysis.DefaultAnalyzer{
			Tokenizer: unicode.NewUnicodeTokenizer(),
			TokenFilters: []analysis.TokenFilter{
				en.NewPossessiveFilter(),
				lowercase.NewLowerCaseFilter(),
				stop.NewStopTokensFilter(stopWords),
				porter.NewPorterStemmer(),
			},
		},
	}
}

// luceneEnglishStopWords is Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET
// (Lucene 9), Elasticsearch's "_english_" stop words.
const luceneEnglishStopWords = `a an and are as at be but by for if in into is it no not of on or
such that the their then there these they this to was will with`

// ElasticEnglish returns the AnalyzerElasticEnglish analyzer.
func ElasticEnglish() Analyzer {
	stopWords := analysis.NewTokenMap()
	for _, w := range strings.Fields(luceneEnglishStopWords) {
		stopWords.AddToken(w)
	}
	return englishChain(AnalyzerElasticEnglish, stopWords)
}

// Standard returns the AnalyzerStandard analyzer.
func Standard() Analyzer {
	return Analyzer{
		name: AnalyzerStandard,
		a: &analysis.DefaultAnalyzer{
			Tokenizer:    unicode.NewUnicodeTokenizer(),
			TokenFilters: []analysis.TokenFilter{lowercase.NewLowerCaseFilter()},
		},
	}
}

// AnalyzerByName returns the analyzer with that name (AnalyzerEnglish,
// AnalyzerElasticEnglish or AnalyzerStandard).
func AnalyzerByName(name string) (Analyzer, error) {
	switch name {
	case AnalyzerEnglish:
		return English(), nil
	case AnalyzerElasticEnglish:
		return ElasticEnglish(), nil
	case AnalyzerStandard:
		return Standard(), nil
	}
	return Analyzer{}, fmt.Errorf("lexical: unknown analyzer %q (want %q, %q or %q)", name, AnalyzerEnglish, AnalyzerElasticEnglish, AnalyzerStandard)
}

// Name is the analyzer's name, as stored in segment files.
func (an Analyzer) Name() string { return an.name }

// Analyze returns the terms of text in order, repeats included. Empty terms
// (which a filter could leave behind) are dropped.
func (an Analyzer) Analyze(text string) []string {
	var out []string
	an.each(text, func(term []byte) { out = append(out, string(term)) })
	return out
}

// each calls fn with every non-empty term of text. The slice is only valid
// during the call.
func (an Analyzer) each(text string, fn func(term []byte)) {
	if an.a == nil || text == "" {
		return
	}
	for _, tok := range an.a.Analyze([]byte(text)) {
		if len(tok.Term) > 0 {
			fn(tok.Term)
		}
	}
}

func (an Analyzer) valid() bool { return an.a != nil }
