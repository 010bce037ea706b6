package bert

import (
	"math"
	"math/rand/v2"
	"testing"
)

// linear.apply (four tokens per weight row, then a 4-accumulator remainder)
// against the textbook double loop, for every remainder.
func TestLinearApply(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, dims := range [][2]int{{8, 3}, {37, 5}, {64, 16}} {
		in, out := dims[0], dims[1]
		l := &linear{in: in, out: out, w: make([]float64, in*out), b: make([]float64, out)}
		for i := range l.w {
			l.w[i] = r.NormFloat64()
		}
		for i := range l.b {
			l.b[i] = r.NormFloat64()
		}
		for n := 1; n <= 9; n++ {
			x := make([]float64, n*in)
			for i := range x {
				x[i] = r.NormFloat64()
			}
			y := make([]float64, n*out)
			l.apply(x, n, y)
			for tk := 0; tk < n; tk++ {
				for j := 0; j < out; j++ {
					want := l.b[j]
					for k := 0; k < in; k++ {
						want += l.w[j*in+k] * x[tk*in+k]
					}
					if math.Abs(y[tk*out+j]-want) > 1e-12 {
						t.Fatalf("in %d out %d n %d: y[%d][%d] = %g, want %g", in, out, n, tk, j, y[tk*out+j], want)
					}
				}
			}
		}
	}
}

func TestGELU(t *testing.T) {
	// Known values of x·Φ(x).
	for x, want := range map[float64]float64{0: 0, 1: 0.8413447460685429, -1: -0.15865525393145707, 3: 2.99595030590511} {
		if got := geluErf(x); math.Abs(got-want) > 1e-15 {
			t.Errorf("geluErf(%g) = %.17g, want %.17g", x, got, want)
		}
	}
	worst := 0.0
	for x := -6.0; x <= 6; x += 0.001 {
		worst = math.Max(worst, math.Abs(geluErf(x)-geluTanh(x)))
	}
	if worst == 0 || worst > 1e-3 {
		t.Errorf("max |gelu erf - tanh| on [-6, 6] = %g", worst)
	}
	t.Logf("max |gelu erf - tanh| on [-6, 6] = %.3g", worst)
}
