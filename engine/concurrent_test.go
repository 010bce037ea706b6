package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quarry-search/quarry/engine"
	"github.com/quarry-search/quarry/engine/encoder"
)

// TestConcurrentSearchWhileWriting runs searches of every mode in parallel
// with adds, deletes and compactions (run it with -race): no search may
// fail, and every result must be a live document of the generation the
// search says it read. QUARRY_RACE_SECONDS sets how long (default 3).
func TestConcurrentSearchWhileWriting(t *testing.T) {
	secs := 3.0
	if s := os.Getenv("QUARRY_RACE_SECONDS"); s != "" {
		var err error
		if secs, err = strconv.ParseFloat(s, 64); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	enc := newFake(t, encoder.BiEncoder)
	rng := rand.New(rand.NewPCG(5, 6))
	ws := words(t)
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "ix")
	m := &model{docs: map[string]*mdoc{}}
	ix, err := engine.Create(dir, engine.CreateOptions{Encoder: enc})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if _, err := ix.Add(ctx, engine.AddOptions{Input: m.addBatch(t, rng, ws, tmp, 40), SegmentPassages: 16}); err != nil {
		t.Fatal(err)
	}
	// live[generation] = the ids live in it (written before the generation
	// can be read: it is recorded right after each commit, and readers
	// check at the end).
	var live sync.Map
	recordIDs := func(order []string) {
		ids := map[string]bool{}
		for _, id := range order {
			ids[id] = true
		}
		live.Store(ix.Info().Generation, ids)
	}
	record := func() { recordIDs(m.order) }
	record()

	type seen struct {
		gen uint64
		ids []string
	}
	var mu sync.Mutex
	var seenAll []seen
	var searches atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	modes := []engine.Request{
		{Mode: engine.ModeDense}, {Mode: engine.ModeBM25}, {Mode: engine.ModeHybrid},
		{Mode: engine.ModeDense, Filters: []string{"lib=b"}}, {Mode: engine.ModeBM25, Sort: "likes:desc"},
	}
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			rr := rand.New(rand.NewPCG(uint64(r), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				req := modes[rr.IntN(len(modes))]
				req.Text, req.K = ws[rr.IntN(40)]+" "+ws[rr.IntN(40)], 20
				resp, err := ix.Search(ctx, req)
				if err != nil {
					errc <- fmt.Errorf("search %s: %w", req.Mode, err)
					return
				}
				s := seen{gen: resp.Generation}
				for _, res := range resp.Results {
					s.ids = append(s.ids, res.ID)
				}
				mu.Lock()
				seenAll = append(seenAll, s)
				mu.Unlock()
				searches.Add(1)
			}
		}(r)
	}
	deadline := time.Now().Add(time.Duration(secs * float64(time.Second)))
	ops := 0
	for time.Now().Before(deadline) {
		switch op := rng.IntN(3); {
		case op == 0 || len(m.order) < 10:
			base := len(m.order)
			in := m.addBatch(t, rng, ws, tmp, 10)
			// An add commits a segment at a time: each generation holds
			// the documents committed so far.
			progress := func(p engine.Progress) { recordIDs(m.order[:base+int(p.Committed)]) }
			if _, err := ix.Add(ctx, engine.AddOptions{Input: in, SegmentPassages: 8, Progress: progress}); err != nil {
				t.Fatal(err)
			}
		case op == 1:
			var del []string
			for range 4 {
				del = append(del, m.order[rng.IntN(len(m.order))])
			}
			if _, _, err := ix.Delete(ctx, del); err != nil {
				t.Fatal(err)
			}
			gone := map[string]bool{}
			for _, id := range del {
				gone[id] = true
			}
			var keep []string
			for _, id := range m.order {
				if !gone[id] {
					keep = append(keep, id)
				}
			}
			m.order = keep
		default:
			if _, err := ix.Compact(ctx); err != nil {
				t.Fatal(err)
			}
		}
		record()
		ops++
	}
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	for _, s := range seenAll {
		v, ok := live.Load(s.gen)
		if !ok {
			t.Fatalf("a search read generation %d, which was never committed", s.gen)
		}
		ids := v.(map[string]bool)
		for _, id := range s.ids {
			if !ids[id] {
				t.Fatalf("a search of generation %d returned %s, not live in it", s.gen, id)
			}
		}
	}
	t.Logf("%d writes, %d searches in %.1fs", ops, searches.Load(), secs)
	if searches.Load() == 0 || ops == 0 {
		t.Fatal("nothing ran")
	}
}
