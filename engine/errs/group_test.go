package errs

import (
	"strings"
	"sync/atomic"
	"testing"
)

func TestGroupRaisesPanicInWaiter(t *testing.T) {
	var g Group
	var done atomic.Int32
	for i := 0; i < 8; i++ {
		g.Go(func() {
			if i == 5 {
				panic("boom in worker 5")
			}
			done.Add(1)
		})
	}
	defer func() {
		v := recover()
		p, ok := v.(*GoroutinePanic)
		if !ok {
			t.Fatalf("Wait panicked with %T %v, want *GoroutinePanic", v, v)
		}
		if p.Value != "boom in worker 5" || !strings.Contains(string(p.Stack), "group_test.go") {
			t.Fatalf("panic value %v, stack without the worker's frame:\n%s", p.Value, p.Stack)
		}
		if KindOf(p) != Internal {
			t.Fatalf("kind %v, want internal", KindOf(p))
		}
		if done.Load() != 7 {
			t.Fatalf("%d other workers finished, want 7 (Wait returns after all)", done.Load())
		}
	}()
	g.Wait()
	t.Fatal("Wait returned after a worker panicked")
}

func TestGroupNoPanic(t *testing.T) {
	var g Group
	var n atomic.Int32
	for i := 0; i < 4; i++ {
		g.Go(func() { n.Add(1) })
	}
	g.Wait()
	if n.Load() != 4 {
		t.Fatalf("ran %d, want 4", n.Load())
	}
}
