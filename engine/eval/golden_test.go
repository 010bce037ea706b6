package eval

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
)

// TestPytrecEvalGolden compares every metric, per query and averaged, with
// pytrec_eval (trec_eval's C code) on testdata/beir/fixture: graded and
// negative judgments, many tied scores, ids equal to query ids, queries
// whose judgments are all ≤ 0, empty result lists, unjudged queries and
// judged queries missing from the run. Regenerate the golden file with
// scripts/eval/pytrec_fixture.py.
func TestPytrecEvalGolden(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "beir", "fixture")
	qf, err := ReadQrels(filepath.Join(dir, "qrels.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	var run Run
	if err := json.Unmarshal(b, &run); err != nil {
		t.Fatal(err)
	}
	b, err = os.ReadFile(filepath.Join(dir, "pytrec_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		Queries  int                           `json:"queries"`
		Mean     map[string]float64            `json:"mean"`
		PerQuery map[string]map[string]float64 `json:"per_query"`
	}
	var golden map[string]json.RawMessage
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	const tol = 1e-4 // the brief; the agreement found is ~1e-15
	worst := 0.0
	check := func(what string, got, want float64) {
		t.Helper()
		d := math.Abs(got - want)
		worst = max(worst, d)
		if d > tol {
			t.Errorf("%s = %.10g, pytrec_eval %.10g", what, got, want)
		}
	}
	for _, variant := range []string{"ignore_identical", "keep_identical"} {
		var g result
		if err := json.Unmarshal(golden[variant], &g); err != nil {
			t.Fatal(err)
		}
		s, err := Evaluate(qf.Qrels, run, Options{KeepIdenticalIDs: variant == "keep_identical"})
		if err != nil {
			t.Fatal(err)
		}
		if s.Queries != g.Queries || len(s.PerQuery) != len(g.PerQuery) {
			t.Fatalf("%s: %d queries evaluated, pytrec_eval %d", variant, s.Queries, g.Queries)
		}
		if s.NoRelevant == 0 || s.NotRun == 0 || s.Unjudged == 0 {
			t.Fatalf("%s: fixture lacks a case: %+v", variant, s)
		}
		if variant == "ignore_identical" && s.IdenticalDropped == 0 {
			t.Fatal("fixture has no identical ids")
		}
		empty := 0
		for _, qs := range s.PerQuery {
			want, ok := g.PerQuery[qs.ID]
			if !ok {
				t.Fatalf("%s: query %s not evaluated by pytrec_eval", variant, qs.ID)
			}
			if qs.Returned == 0 {
				empty++
			}
			res := run[qs.ID]
			if variant == "ignore_identical" {
				res = Trim(Run{qs.ID: res}, len(res), true)[qs.ID]
			}
			ranked := Rank(res)
			rels := qf.Qrels[qs.ID]
			p := variant + " " + qs.ID + " "
			for _, k := range []int{1, 3, 5, 10, 100} {
				check(p+"ndcg_cut_"+itoa(k), NDCG(ranked, rels, k), want["ndcg_cut_"+itoa(k)])
			}
			for _, k := range []int{10, 100} {
				check(p+"map_cut_"+itoa(k), AP(ranked, rels, k), want["map_cut_"+itoa(k)])
			}
			for _, k := range []int{5, 10, 100} {
				check(p+"recall_"+itoa(k), Recall(ranked, rels, k), want["recall_"+itoa(k)])
			}
			for _, k := range []int{1, 5, 10} {
				check(p+"P_"+itoa(k), Precision(ranked, rels, k), want["P_"+itoa(k)])
			}
			for _, k := range []int{1, 10} {
				check(p+"success_"+itoa(k), Hit(ranked, rels, k), want["success_"+itoa(k)])
			}
			check(p+"recip_rank", ReciprocalRank(ranked, rels, 0), want["recip_rank"])
			check(p+"recip_rank@10", ReciprocalRank(ranked, rels, 10), want["mrr_10"])
			// the per-query figures Evaluate reports
			check(p+"ndcg@10", qs.NDCG10, want["ndcg_cut_10"])
			check(p+"map@100", qs.MAP100, want["map_cut_100"])
			check(p+"recall@10", qs.Recall10, want["recall_10"])
			check(p+"recall@100", qs.Recall100, want["recall_100"])
			check(p+"mrr@10", qs.MRR10, want["mrr_10"])
			check(p+"p@10", qs.P10, want["P_10"])
			check(p+"hits@10", qs.Hits10, want["success_10"])
		}
		if empty == 0 {
			t.Fatalf("%s: fixture has no empty result list", variant)
		}
		m := s.Metrics
		got := map[string]float64{"ndcg@10": m.NDCG10, "map@100": m.MAP100, "recall@10": m.Recall10, "recall@100": m.Recall100,
			"mrr@10": m.MRR10, "p@10": m.P10, "hits@10": m.Hits10}
		names := make([]string, 0, len(got))
		for k := range got {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			check(variant+" mean "+k, got[k], g.Mean[k])
		}
	}
	t.Logf("largest difference from pytrec_eval: %.3g", worst)
}

func itoa(k int) string { return strconv.Itoa(k) }
