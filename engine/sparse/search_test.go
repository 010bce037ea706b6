package sparse

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"
)

// bruteSearch is the definition Search implements: every allowed document
// scores by its best row (the earliest on a tie), ties between documents go
// to the lower ordinal, only scores > 0 count.
func bruteSearch(groups []uint32, vecs []Vec, q Vec, allow []uint64, bits, k int) []Hit {
	best := map[uint32]Hit{}
	first := map[uint32]int{}
	for r, g := range groups {
		if _, ok := first[g]; !ok {
			first[g] = r
		}
		if allow != nil && !(int(g) < bits && allow[g/64]&(1<<(g%64)) != 0) {
			continue
		}
		s := q.Dot(vecs[r])
		if s <= 0 {
			continue
		}
		if h, ok := best[g]; !ok || s > h.Score {
			best[g] = Hit{Group: g, Passage: r - first[g], Score: s}
		}
	}
	var hits []Hit
	for _, h := range best {
		hits = append(hits, h)
	}
	sort.Slice(hits, func(a, b int) bool {
		return hits[a].Score > hits[b].Score || hits[a].Score == hits[b].Score && hits[a].Group < hits[b].Group
	})
	if len(hits) > k {
		hits = hits[:k]
	}
	return hits
}

func sameHits(got, want []Hit) bool {
	if len(got) == 0 && len(want) == 0 {
		return true
	}
	return reflect.DeepEqual(got, want)
}

func TestSearchBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for trial := range 30 {
		vocab := []int{12, 60, 30522}[trial%3]
		groups, vecs := corpus(r, vocab, 50+r.IntN(300), 25)
		// Duplicated rows and documents: exact ties between passages of a
		// document and between documents.
		for range 10 {
			i, j := r.IntN(len(vecs)), r.IntN(len(vecs))
			vecs[j] = vecs[i]
		}
		b, _, err := Encode(vocab, groups, vecs)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Parse("t", b)
		if err != nil {
			t.Fatal(err)
		}
		bits := int(groups[len(groups)-1]) + 1 + r.IntN(70)
		allow := make([]uint64, (bits+63)/64)
		for g := range bits {
			if r.IntN(3) != 0 {
				allow[g/64] |= 1 << (g % 64)
			}
		}
		for range 20 {
			q := randVec(r, vocab, 1+r.IntN(30))
			if r.IntN(5) == 0 {
				q = vecs[r.IntN(len(vecs))] // a row as the query
			}
			for _, k := range []int{1, 3, 10, 1000} { // 1000: more than the matches
				for _, a := range [][]uint64{nil, allow} {
					got := s.Search(q, a, bits, k)
					want := bruteSearch(groups, vecs, q, a, bits, k)
					if !sameHits(got, want) {
						t.Fatalf("trial %d, k %d, allow %v: Search = %v, want %v", trial, k, a != nil, got, want)
					}
				}
			}
		}
	}
}

func TestSearchTies(t *testing.T) {
	// Documents 2, 5 and 9 tie; document 5's second and third passages tie.
	groups := []uint32{2, 5, 5, 5, 7, 9}
	vecs := []Vec{vec(1, 2), vec(1, 1), vec(1, 2, 3, 0.5), vec(1, 2, 3, 0.5), vec(4, 9), vec(0, 1, 1, 2)}
	b, _, _ := Encode(10, groups, vecs)
	s, err := Parse("t", b)
	if err != nil {
		t.Fatal(err)
	}
	q := vec(1, 1)
	want := []Hit{{2, 0, 2}, {5, 1, 2}, {9, 0, 2}}
	if got := s.Search(q, nil, 0, 10); !reflect.DeepEqual(got, want) {
		t.Errorf("Search = %v, want %v", got, want)
	}
	if got := s.Search(q, nil, 0, 2); !reflect.DeepEqual(got, want[:2]) {
		t.Errorf("Search k=2 = %v, want %v", got, want[:2])
	}
	// Passage 2 of document 5 wins once term 3 counts.
	if got := s.Search(vec(1, 1, 3, 1), nil, 0, 1); !reflect.DeepEqual(got, []Hit{{5, 1, 2.5}}) {
		t.Errorf("Search = %v", got)
	}
	// Allow only 9 and 7 (bits past the bitset's length are not set).
	allow := []uint64{1<<9 | 1<<7}
	if got := s.Search(q, allow, 10, 10); !reflect.DeepEqual(got, []Hit{{9, 0, 2}}) {
		t.Errorf("Search allow {7, 9} = %v", got)
	}
	if got := s.Search(q, allow, 8, 10); got != nil {
		t.Errorf("Search with bit 9 past bits = %v", got)
	}
	// Nothing in common, k <= 0, query ids outside the vocabulary, an
	// empty query: no hits.
	for _, tc := range []struct {
		q Vec
		k int
	}{{vec(8, 1), 5}, {q, 0}, {q, -1}, {vec(-3, 1, 10, 4, 99, 1), 5}, {Vec{}, 5}} {
		if got := s.Search(tc.q, nil, 0, tc.k); len(got) != 0 {
			t.Errorf("Search(%v, k %d) = %v", tc.q, tc.k, got)
		}
	}
	// Ids outside the vocabulary are skipped, the rest still count.
	if got := s.Search(vec(-1, 5, 4, 1, 12, 3), nil, 0, 5); !reflect.DeepEqual(got, []Hit{{7, 0, 9}}) {
		t.Errorf("Search = %v", got)
	}
}

func TestSearchAll(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	// Three segments over disjoint, increasing ordinal ranges; one nil.
	var allG []uint32
	var allV []Vec
	var segs []*Segment
	base := uint32(0)
	for range 3 {
		groups, vecs := corpus(r, 80, 120, 12)
		for i := range groups {
			groups[i] += base
		}
		base = groups[len(groups)-1] + 1
		b, _, err := Encode(80, groups, vecs)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Parse("t", b)
		if err != nil {
			t.Fatal(err)
		}
		segs = append(segs, s, nil)
		allG, allV = append(allG, groups...), append(allV, vecs...)
	}
	bits := int(base)
	allow := make([]uint64, (bits+63)/64)
	for g := range bits {
		if r.IntN(4) != 0 {
			allow[g/64] |= 1 << (g % 64)
		}
	}
	var qs []Vec
	for range 25 {
		qs = append(qs, randVec(r, 80, 1+r.IntN(10)))
	}
	for _, k := range []int{1, 7, 500} {
		got, err := SearchAll(context.Background(), segs, qs, allow, bits, k)
		if err != nil {
			t.Fatal(err)
		}
		for i, q := range qs {
			// Passages are per segment: compare documents and scores, and
			// the passage against the brute force over the document's own segment.
			want := bruteSearch(allG, allV, q, allow, bits, k)
			if len(got[i]) != len(want) {
				t.Fatalf("k %d query %d: %d hits, want %d", k, i, len(got[i]), len(want))
			}
			for j := range want {
				if got[i][j] != want[j] {
					t.Fatalf("k %d query %d hit %d: %+v, want %+v", k, i, j, got[i][j], want[j])
				}
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := SearchAll(ctx, segs, qs, nil, 0, 5); !errors.Is(err, context.Canceled) {
		t.Errorf("SearchAll(cancelled) = %v", err)
	}
}
