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
	weights := make(map[string]float64)
	an.each(query, func(term []byte) {
		t := string(term)
		if _, ok := weights[t]; ok {
			return
		}
		w := 1.0
		if idf != nil {
			w = idf(t)
		}
		weights[t] = w
	})
	best, bestScore := 0, 0.0
	seen := make(map[string]bool)
	for i, p := range passages {
		clear(seen)
		score := 0.0
		an.each(p, func(term []byte) {
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
