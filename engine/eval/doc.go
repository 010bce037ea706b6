// Package eval measures retrieval quality the way the IR community does:
// trec_eval's metrics (as pytrec_eval and BEIR compute them), BEIR folders
// run end to end through a quarry index, and STS correlations.
//
// # Metrics
//
// A Run maps a query id to its retrieved documents and their scores, a Qrels
// maps a query id to judged documents and their graded relevance, exactly as
// pytrec_eval takes them. Every metric follows trec_eval 9.0.8/10.0 (the C
// sources named below are usnistgov/trec_eval's):
//
//   - Ranking: a query's documents are sorted by score descending, ties by
//     document id descending (byte order): comp_sim_docno in form_res_rels.c
//     returns strcmp(p2->docno, p1->docno) for equal sims. The order a system
//     returned its results in is not used, only the scores, so quarry's own
//     tie order (ordinal ascending) never leaks into a figure.
//   - Relevance: a judgment ≥ 1 is relevant (trec_eval's default
//     relevance_level 1); 0 and negative judgments (trec_eval reads a
//     negative one as "in the pool, unjudged") are not relevant, and a
//     document missing from the qrels is not relevant.
//   - nDCG@k (ndcg_cut, m_ndcg_cut.c): DCG = Σ_{i<k} gain_i / log2(i+1)
//     with 1-based rank i (rank 1 divides by 1), gain = the judgment when it
//     is > 0, else 0; the ideal DCG takes every positive judgment of the
//     query from the qrels, highest first, cut at k. A query with no
//     positive judgment scores 0.
//   - MAP@k (map_cut, m_map_cut.c): Σ over relevant documents in the top k
//     of precision at their rank, divided by the number of relevant
//     documents in the qrels (not by k, not by those retrieved).
//   - Recall@k (recall_k, m_recall.c): relevant in the top k / relevant in
//     the qrels.
//   - P@k (P_k, m_P.c): relevant in the top k / k, whatever the number
//     retrieved.
//   - MRR@k: trec_eval's recip_rank (m_recip_rank.c: 1/rank of the first
//     relevant document, 0 if none) computed on the ranking cut at k. BEIR's
//     MRR@k (beir/retrieval/custom_metrics.py, mrr) is the same number per
//     query: the first document with a judgment > 0 among the top k of
//     results sorted by score. BEIR sorts with Python's stable sort, so its
//     ties keep the run's insertion order where trec_eval's rule is used
//     here, and it divides by len(qrels), the queries of the split, which
//     equals the queries evaluated whenever every query of the split was run
//     (what RunBEIR does).
//   - Hits@k (trec_eval's success_k, m_success.c): 1 if any relevant
//     document is in the top k.
//
// # Which queries count
//
// As pytrec_eval's RelevanceEvaluator.evaluate: a query is evaluated when
// it is in the run and has at least one judgment in the qrels; a query of
// the run that is not in the qrels is ignored (counted in Unjudged); a
// query of the qrels missing from the run is not evaluated (counted in
// NotRun; a query present with an empty result list is evaluated and scores
// 0). A query whose judgments are all ≤ 0 has no relevant document:
// pytrec_eval (checked with pytrec-eval-terrier 0.5.11) and trec_eval still
// evaluate it, every metric 0, and BEIR averages over pytrec_eval's output,
// so by default it is averaged in as 0 and counted in NoRelevant;
// Options.SkipNoRelevant leaves such queries out of the means instead.
//
// BEIR's ignore_identical_ids (on by default there and here): a result
// whose document id equals its query id is dropped before anything is
// measured (Options.KeepIdenticalIDs turns this off).
//
// Means are plain averages over the evaluated queries, summed in query-id
// order.
package eval
