package lexical

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/quarry-search/quarry/engine/lexical/synth"
)

// TestWithDeletedEqualsRebuilt: a view with deleted documents scores every
// query exactly as an index built from the other documents alone (ordinals
// renumbered densely, as compaction does).
func TestWithDeletedEqualsRebuilt(t *testing.T) {
	ctx := context.Background()
	an := English()
	docs := synthDocs(300, 0, 5)
	full := buildIndex(t, docs, an, 90, 120)
	rng := rand.New(rand.NewPCG(3, 4))
	var del []uint32
	var kept []Doc
	renum := map[uint32]uint32{} // kept ordinal -> new ordinal
	for _, d := range docs {
		if rng.IntN(4) == 0 {
			del = append(del, d.Ord)
			continue
		}
		renum[d.Ord] = uint32(len(kept))
		kept = append(kept, Doc{Ord: uint32(len(kept)), Title: d.Title, Text: d.Text})
	}
	view := full.WithDeleted(del)
	rebuilt := buildIndex(t, kept, an, 70, 100)
	if vs, rs := view.Stats(), rebuilt.Stats(); vs.DocCount != rs.DocCount || math.Abs(vs.AvgDocLen-rs.AvgDocLen) > 1e-12 {
		t.Fatalf("stats: view %+v, rebuilt %+v", vs, rs)
	}
	queries := append(synthQueries(30), "the", "zzz-not-there")
	for _, p := range paramGrid() {
		for _, q := range queries {
			got, err := view.Search(ctx, q, 400, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			want, err := rebuilt.Search(ctx, q, 400, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%q %+v: %d hits, rebuilt %d", q, p, len(got), len(want))
			}
			for i := range got {
				if renum[got[i].Ord] != want[i].Ord || math.Abs(got[i].Score-want[i].Score) > 1e-12 {
					t.Fatalf("%q %+v: hit %d = %+v (new ord %d), rebuilt %+v", q, p, i, got[i], renum[got[i].Ord], want[i])
				}
			}
		}
	}
	for _, term := range []string{"the", "a"} {
		if a, b := view.IDF(term), rebuilt.IDF(term); math.Abs(a-b) > 1e-12 {
			t.Fatalf("IDF(%q): view %v, rebuilt %v", term, a, b)
		}
	}
	if full.WithDeleted(nil) != full {
		t.Fatal("no deletions must give the index itself")
	}
}

func synthQueries(n int) []string {
	return synth.Queries(synthOpts(5), n, 4, 0, 400, 9)
}
