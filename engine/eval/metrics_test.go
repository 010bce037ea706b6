package eval

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestRankTrecOrder(t *testing.T) {
	// score descending, ties by document id descending in byte order
	// ("d9" > "d10" > "d1"; "b" > "a"; "é" (0xC3…) > "z").
	got := Rank(map[string]float64{"d1": 1, "d10": 1, "d9": 1, "a": 2, "b": 2, "z": 0.5, "é": 0.5, "low": -3})
	want := []string{"b", "a", "d9", "d10", "d1", "é", "z", "low"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Rank = %v, want %v", got, want)
	}
}

func TestMetricsHandComputed(t *testing.T) {
	l2 := math.Log2
	// ranking x, a, c, b, y; judgments a=2, b=1, c=0, d=1 (d not retrieved), e=-1
	ranked := []string{"x", "a", "c", "b", "y"}
	rels := map[string]int{"a": 2, "b": 1, "c": 0, "d": 1, "e": -1}
	idcg := func(k int) float64 { // gains 2,1,1
		g := []float64{2, 1, 1}
		s := 0.0
		for i := 0; i < k && i < len(g); i++ {
			s += g[i] / l2(float64(i+2))
		}
		return s
	}
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"ndcg@1", NDCG(ranked, rels, 1), 0},
		{"ndcg@2", NDCG(ranked, rels, 2), (2 / l2(3)) / idcg(2)},
		{"ndcg@3", NDCG(ranked, rels, 3), (2 / l2(3)) / idcg(3)},
		{"ndcg@4", NDCG(ranked, rels, 4), (2/l2(3) + 1/l2(5)) / idcg(3)},
		{"ndcg@10", NDCG(ranked, rels, 10), (2/l2(3) + 1/l2(5)) / (2 + 1/l2(3) + 1/l2(4))},
		{"ndcg@0", NDCG(ranked, rels, 0), 0},
		{"map@1", AP(ranked, rels, 1), 0},
		{"map@2", AP(ranked, rels, 2), (1.0 / 2) / 3},
		{"map@100", AP(ranked, rels, 100), (1.0/2 + 2.0/4) / 3},
		{"recall@2", Recall(ranked, rels, 2), 1.0 / 3},
		{"recall@10", Recall(ranked, rels, 10), 2.0 / 3},
		{"p@1", Precision(ranked, rels, 1), 0},
		{"p@4", Precision(ranked, rels, 4), 2.0 / 4},
		{"p@10 (5 retrieved)", Precision(ranked, rels, 10), 2.0 / 10},
		{"rr uncut", ReciprocalRank(ranked, rels, 0), 1.0 / 2},
		{"rr@1", ReciprocalRank(ranked, rels, 1), 0},
		{"rr@10", ReciprocalRank(ranked, rels, 10), 1.0 / 2},
		{"hits@1", Hit(ranked, rels, 1), 0},
		{"hits@2", Hit(ranked, rels, 2), 1},
		// a query without positive judgments scores 0 everywhere
		{"ndcg no rel", NDCG(ranked, map[string]int{"x": 0, "a": -1}, 10), 0},
		{"map no rel", AP(ranked, map[string]int{"x": 0}, 100), 0},
		{"recall no rel", Recall(ranked, map[string]int{"x": 0}, 10), 0},
		{"rr no rel", ReciprocalRank(ranked, map[string]int{"x": 0}, 10), 0},
		// empty ranking
		{"ndcg empty", NDCG(nil, rels, 10), 0},
		{"p empty", Precision(nil, rels, 10), 0},
		// perfect ranking of graded judgments: 1
		{"ndcg perfect", NDCG([]string{"a", "b", "d"}, rels, 10), 1},
		{"ndcg perfect tie order", NDCG([]string{"a", "d", "b"}, rels, 10), 1},
		// grades matter: a relevant-1 above the relevant-2 costs
		{"ndcg swapped", NDCG([]string{"b", "a", "d"}, rels, 10), (1 + 2/l2(3) + 1/l2(4)) / idcg(3)},
		// ideal cut at k: 12 relevant documents, only the best 3 count at k=3
		{"ndcg ideal cut", NDCG([]string{"r3"}, map[string]int{"r1": 3, "r2": 3, "r3": 1, "r4": 1, "r5": 1, "r6": 1, "r7": 1, "r8": 1, "r9": 1, "r10": 1, "r11": 1, "r12": 1}, 3), 1 / (3 + 3/l2(3) + 1/l2(4))},
	} {
		if !near(c.got, c.want) {
			t.Errorf("%s = %.15g, want %.15g", c.name, c.got, c.want)
		}
	}
}

func TestEvaluateQueriesAndIdenticalIDs(t *testing.T) {
	qrels := Qrels{
		"q1": {"a": 1, "q1": 1}, // q1's own id is judged relevant, as in ArguAna
		"q2": {"z": 0, "y": -1}, // no relevant document
		"q3": {"a": 1},          // in the run with no results
		"q4": {"b": 2},          // not in the run
		"q6": {},                // no judgments at all: not evaluated
	}
	run := Run{
		"q1": {"q1": 5, "a": 1, "b": 0.5},
		"q2": {"z": 1},
		"q3": {},
		"q5": {"a": 1}, // not judged: ignored
		"q6": {"a": 1},
	}
	s, err := Evaluate(qrels, run, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// q1 without its own id: a at rank 1, 1 of 2 relevant found
	if s.Queries != 3 || s.NoRelevant != 1 || s.NotRun != 1 || s.Unjudged != 2 || s.IdenticalDropped != 1 {
		t.Fatalf("counts %+v", s)
	}
	if !near(s.MRR10, 1.0/3) || !near(s.Recall10, 0.5/3) || !near(s.Hits10, 1.0/3) || !near(s.P10, 0.1/3) {
		t.Fatalf("means %+v", s.Metrics)
	}
	if len(s.PerQuery) != 3 || s.PerQuery[0].ID != "q1" || s.PerQuery[0].Returned != 2 || s.PerQuery[0].Relevant != 2 {
		t.Fatalf("per query %+v", s.PerQuery)
	}
	k, _ := Evaluate(qrels, run, Options{KeepIdenticalIDs: true})
	if k.IdenticalDropped != 0 || !near(k.PerQuery[0].MRR10, 1) || !near(k.PerQuery[0].Recall10, 1) {
		t.Fatalf("keep identical: %+v", k.PerQuery[0])
	}
	sk, _ := Evaluate(qrels, run, Options{SkipNoRelevant: true})
	if sk.Queries != 2 || sk.NoRelevant != 1 || !near(sk.MRR10, 0.5) {
		t.Fatalf("skip no relevant: %+v", sk)
	}
	if _, err := Evaluate(qrels, Run{"q1": {"a": math.NaN()}}, Options{}); err == nil || !strings.Contains(err.Error(), `"a"`) {
		t.Fatalf("NaN score: %v", err)
	}
	empty, err := Evaluate(qrels, Run{}, Options{})
	if err != nil || empty.Queries != 0 || empty.NDCG10 != 0 {
		t.Fatalf("empty run: %+v %v", empty, err)
	}
}

// TestTiesUseScoresNotOrder: the order of a system's results does not
// matter, only their scores (then ids), as in trec_eval.
func TestTiesUseScoresNotOrder(t *testing.T) {
	qrels := Qrels{"q": {"d1": 1}}
	s, _ := Evaluate(qrels, Run{"q": {"d1": 1, "d2": 1, "d3": 1}}, Options{})
	if !near(s.MRR10, 1.0/3) { // d3, d2, d1
		t.Fatalf("tied: mrr %v, want 1/3", s.MRR10)
	}
	s, _ = Evaluate(qrels, Run{"q": {"d1": 1.0000001, "d2": 1, "d3": 1}}, Options{})
	if !near(s.MRR10, 1) {
		t.Fatalf("untied: mrr %v", s.MRR10)
	}
}

func TestTrim(t *testing.T) {
	run := Run{"q": {"q": 9, "a": 3, "b": 2, "c": 2, "d": 1}}
	got := Trim(run, 3, true)["q"]
	if len(got) != 3 || got["a"] != 3 || got["c"] != 2 || got["b"] != 2 {
		t.Fatalf("trim = %v", got)
	}
	got = Trim(run, 2, false)["q"]
	if len(got) != 2 || got["q"] != 9 || got["a"] != 3 {
		t.Fatalf("trim keep = %v", got)
	}
}
