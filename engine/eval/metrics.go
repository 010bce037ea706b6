package eval

import (
	"fmt"
	"math"
	"sort"
)

// Qrels are relevance judgments: query id → document id → graded relevance
// (pytrec_eval's query_relevance).
type Qrels map[string]map[string]int

// Run is a system's results: query id → document id → score (pytrec_eval's
// run). Only the scores order the documents (see Rank).
type Run map[string]map[string]float64

// Rank returns the documents of one query in trec_eval's order: score
// descending, ties by document id descending (byte order). trec_eval's
// form_res_rels.c sorts with comp_sim_docno: "if (p1->sim > p2->sim) return
// -1; if (p1->sim < p2->sim) return 1; return strcmp(p2->docno,
// p1->docno);". NaN scores must be rejected before (Evaluate does).
func Rank(scores map[string]float64) []string {
	ids := make([]string, 0, len(scores))
	for id := range scores {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool {
		sa, sb := scores[ids[a]], scores[ids[b]]
		if sa != sb {
			return sa > sb
		}
		return ids[a] > ids[b]
	})
	return ids
}

// relevant reports whether a judgment counts as relevant (trec_eval's
// relevance_level 1).
func relevant(rel int) bool { return rel >= 1 }

// NumRelevant is the number of relevant documents (judgment ≥ 1) in one
// query's judgments.
func NumRelevant(rels map[string]int) int {
	n := 0
	for _, r := range rels {
		if relevant(r) {
			n++
		}
	}
	return n
}

func top(ranked []string, k int) []string {
	if k > 0 && len(ranked) > k {
		return ranked[:k]
	}
	return ranked
}

// NDCG is trec_eval's ndcg_cut at k: graded gains (the judgment when > 0),
// the gain at 1-based rank r divided by log2(r+1) (m_ndcg_cut.c since
// trec_eval 9.0.4: "sum += gain / log2((double) (i + 2))", "i+2 since doc i
// has rank i+1"), normalized by the ideal DCG: the query's positive
// judgments, highest first, cut at k. 0 when the query has no positive
// judgment.
func NDCG(ranked []string, rels map[string]int, k int) float64 {
	if k <= 0 {
		return 0
	}
	dcg := 0.0
	for i, id := range top(ranked, k) {
		if g := rels[id]; g > 0 {
			dcg += float64(g) / math.Log2(float64(i+2))
		}
	}
	gains := make([]int, 0, len(rels))
	for _, g := range rels {
		if g > 0 {
			gains = append(gains, g)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(gains)))
	ideal := 0.0
	for i, g := range top2(gains, k) {
		ideal += float64(g) / math.Log2(float64(i+2))
	}
	if ideal <= 0 {
		return 0 // no positive judgment, so no positive gain either
	}
	return dcg / ideal
}

func top2(xs []int, k int) []int {
	if len(xs) > k {
		return xs[:k]
	}
	return xs
}

// AP is trec_eval's map_cut at k: the sum, over the relevant documents in
// the top k, of the precision at their rank, divided by the number of
// relevant documents in the qrels. 0 when there are none.
func AP(ranked []string, rels map[string]int, k int) float64 {
	nrel := NumRelevant(rels)
	if nrel == 0 || k <= 0 {
		return 0
	}
	sum, found := 0.0, 0
	for i, id := range top(ranked, k) {
		if relevant(rels[id]) {
			found++
			sum += float64(found) / float64(i+1)
		}
	}
	return sum / float64(nrel)
}

// Recall is trec_eval's recall_k: relevant documents in the top k over
// relevant documents in the qrels. 0 when there are none.
func Recall(ranked []string, rels map[string]int, k int) float64 {
	nrel := NumRelevant(rels)
	if nrel == 0 || k <= 0 {
		return 0
	}
	return float64(relevantIn(top(ranked, k), rels)) / float64(nrel)
}

// Precision is trec_eval's P_k: relevant documents in the top k over k,
// however many documents were retrieved.
func Precision(ranked []string, rels map[string]int, k int) float64 {
	if k <= 0 {
		return 0
	}
	return float64(relevantIn(top(ranked, k), rels)) / float64(k)
}

// ReciprocalRank is trec_eval's recip_rank on the ranking cut at k (k ≤ 0:
// not cut): 1/rank of the first relevant document, 0 if there is none.
func ReciprocalRank(ranked []string, rels map[string]int, k int) float64 {
	for i, id := range top(ranked, k) {
		if relevant(rels[id]) {
			return 1 / float64(i+1)
		}
	}
	return 0
}

// Hit is trec_eval's success_k: 1 if a relevant document is in the top k,
// else 0.
func Hit(ranked []string, rels map[string]int, k int) float64 {
	if k > 0 && relevantIn(top(ranked, k), rels) > 0 {
		return 1
	}
	return 0
}

func relevantIn(ids []string, rels map[string]int) int {
	n := 0
	for _, id := range ids {
		if relevant(rels[id]) {
			n++
		}
	}
	return n
}

// Metrics are the figures quarry reports for one query or averaged over
// queries.
type Metrics struct {
	NDCG10    float64 `json:"ndcg@10"`
	MAP100    float64 `json:"map@100"`
	Recall10  float64 `json:"recall@10"`
	Recall100 float64 `json:"recall@100"`
	MRR10     float64 `json:"mrr@10"`
	P10       float64 `json:"p@10"`
	Hits10    float64 `json:"hits@10"`
}

// Compute measures one query's ranking (in trec_eval order, see Rank).
func Compute(ranked []string, rels map[string]int) Metrics {
	return Metrics{
		NDCG10: NDCG(ranked, rels, 10), MAP100: AP(ranked, rels, 100),
		Recall10: Recall(ranked, rels, 10), Recall100: Recall(ranked, rels, 100),
		MRR10: ReciprocalRank(ranked, rels, 10), P10: Precision(ranked, rels, 10),
		Hits10: Hit(ranked, rels, 10),
	}
}

func (m *Metrics) add(o Metrics) {
	m.NDCG10 += o.NDCG10
	m.MAP100 += o.MAP100
	m.Recall10 += o.Recall10
	m.Recall100 += o.Recall100
	m.MRR10 += o.MRR10
	m.P10 += o.P10
	m.Hits10 += o.Hits10
}

func (m *Metrics) div(n float64) {
	m.NDCG10 /= n
	m.MAP100 /= n
	m.Recall10 /= n
	m.Recall100 /= n
	m.MRR10 /= n
	m.P10 /= n
	m.Hits10 /= n
}

// Options change which results and queries are measured.
type Options struct {
	// KeepIdenticalIDs keeps results whose document id equals the query id.
	// By default they are dropped, as BEIR's ignore_identical_ids=True does
	// (for corpora where a query is also a document: ArguAna, Quora, ...).
	KeepIdenticalIDs bool
	// SkipNoRelevant leaves queries without a relevant judgment out of the
	// means. By default they are averaged in as 0, as pytrec_eval, trec_eval
	// and BEIR do (see the package documentation).
	SkipNoRelevant bool
}

// QueryScore is one evaluated query.
type QueryScore struct {
	ID       string `json:"id"`
	Relevant int    `json:"relevant"`  // relevant documents in the qrels
	Returned int    `json:"retrieved"` // results measured (after dropping identical ids)
	Metrics
}

// Summary is the evaluation of a run.
type Summary struct {
	Metrics
	// Queries is the number of queries averaged.
	Queries int `json:"queries"`
	// NoRelevant counts queries of the run whose judgments are all ≤ 0
	// (averaged in as 0, or skipped with Options.SkipNoRelevant).
	NoRelevant int `json:"no_relevant,omitempty"`
	// NotRun counts judged queries that are not in the run.
	NotRun int `json:"not_run,omitempty"`
	// Unjudged counts queries of the run that have no judgment at all.
	Unjudged int `json:"unjudged,omitempty"`
	// IdenticalDropped counts results dropped because their document id
	// equals their query id.
	IdenticalDropped int `json:"identical_dropped,omitempty"`
	// PerQuery holds every evaluated query (those skipped by SkipNoRelevant
	// too), by id.
	PerQuery []QueryScore `json:"-"`
}

// Evaluate measures a run against judgments (see the package
// documentation for the rules). A NaN or infinite score is an error.
func Evaluate(qrels Qrels, run Run, opts Options) (*Summary, error) {
	ids := make([]string, 0, len(run))
	for q := range run {
		ids = append(ids, q)
	}
	sort.Strings(ids)
	s := &Summary{}
	for q, rels := range qrels {
		if _, ok := run[q]; !ok && len(rels) > 0 {
			s.NotRun++
		}
	}
	for _, q := range ids {
		res := run[q]
		for d, sc := range res {
			if math.IsNaN(sc) || math.IsInf(sc, 0) {
				return nil, fmt.Errorf("eval: query %q, document %q: score %v is not a finite number", q, d, sc)
			}
		}
		rels, ok := qrels[q]
		if !ok || len(rels) == 0 {
			s.Unjudged++
			continue
		}
		if _, self := res[q]; self && !opts.KeepIdenticalIDs {
			s.IdenticalDropped++
			kept := make(map[string]float64, len(res)-1)
			for d, sc := range res {
				if d != q {
					kept[d] = sc
				}
			}
			res = kept
		}
		ranked := Rank(res)
		qs := QueryScore{ID: q, Relevant: NumRelevant(rels), Returned: len(ranked), Metrics: Compute(ranked, rels)}
		s.PerQuery = append(s.PerQuery, qs)
		if qs.Relevant == 0 {
			s.NoRelevant++
			if opts.SkipNoRelevant {
				continue
			}
		}
		s.Metrics.add(qs.Metrics)
		s.Queries++
	}
	if s.Queries > 0 {
		s.Metrics.div(float64(s.Queries))
	}
	return s, nil
}
