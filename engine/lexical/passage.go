package lexical

// BestPassage picks the passage of a document to show for query: the one
// whose distinct query terms, each weighted by idf(term), add up to the most.
// A term repeated in the query or in the passage counts once. Ties go to the
// earliest passage, so a document where nothing matches shows its first
// passage. It returns -1 for no passages. A nil idf weighs every term 1.
func BestPassage(an Analyzer, query string, passages []string, idf func(term string) float64) int {
	if len(passages) == 0 {
		return -1
	}
	return NewPassagePicker(an, query, idf).Best(passages)
}

// PassagePicker is BestPassage for one query over many documents: the
// query is analyzed once. Only its first MaxQueryTerms distinct terms count.
type PassagePicker struct {
	an      Analyzer
	weights map[string]float64
	seen    map[string]bool
}

// NewPassagePicker analyzes query for BestPassage (a nil idf weighs every
// term 1).
func NewPassagePicker(an Analyzer, query string, idf func(term string) float64) *PassagePicker {
	weights := make(map[string]float64)
	an.each(query, func(term []byte) {
		t := string(term)
		if _, ok := weights[t]; ok || len(weights) >= MaxQueryTerms {
			return
		}
		w := 1.0
		if idf != nil {
			w = idf(t)
		}
		weights[t] = w
	})
	return &PassagePicker{an: an, weights: weights, seen: make(map[string]bool)}
}

// Best is BestPassage of passages for the picker's query (-1 for none).
func (pp *PassagePicker) Best(passages []string) int {
	if len(passages) == 0 {
		return -1
	}
	weights, seen := pp.weights, pp.seen
	best, bestScore := 0, 0.0
	for i, p := range passages {
		clear(seen)
		score := 0.0
		pp.an.each(p, func(term []byte) {
			w, ok := weights[string(term)]
			if !ok || seen[string(term)] {
				return
			}
			seen[string(term)] = true
			score += w
		})
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// BestPassage is the package-level BestPassage with this index's analyzer
// and Combined-field idf.
func (ix *Index) BestPassage(query string, passages []string) int {
	return BestPassage(ix.an, query, passages, ix.IDF)
}

// PassagePicker is NewPassagePicker with this index's analyzer and
// Combined-field idf.
func (ix *Index) PassagePicker(query string) *PassagePicker {
	return NewPassagePicker(ix.an, query, ix.IDF)
}
