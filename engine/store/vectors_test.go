package store

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/quarry-search/quarry/engine/gguf"
)

func TestParseDType(t *testing.T) {
	for _, d := range allDTypes {
		got, err := ParseDType(d.String())
		if err != nil || got != d {
			t.Fatalf("ParseDType(%q) = %v, %v", d.String(), got, err)
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var back DType
		if err := json.Unmarshal(b, &back); err != nil || back != d {
			t.Fatalf("JSON %s -> %v, %v", b, back, err)
		}
	}
	if _, err := ParseDType("q4"); err == nil {
		t.Fatal("ParseDType(q4) succeeded")
	}
	if DType(0).String() != "none" || DType(9).Valid() {
		t.Fatal("zero/invalid dtype")
	}
}

func TestRowBytes(t *testing.T) {
	cases := []struct {
		d    DType
		dim  int
		want int
	}{{F32, 384, 1536}, {F16, 384, 768}, {Int8, 384, 384}, {Binary, 384, 48}, {Binary, 385, 49}, {Binary, 1, 1}, {F32, 0, 0}, {F32, MaxDim + 1, 0}, {0, 8, 0}}
	for _, c := range cases {
		if got := RowBytes(c.d, c.dim); got != c.want {
			t.Errorf("RowBytes(%v, %d) = %d, want %d", c.d, c.dim, got, c.want)
		}
	}
}

func TestQuantizeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const dim, n = 384, 200
	rows := unitRows(rng, n, dim)
	for _, d := range allDTypes {
		t.Run(d.String(), func(t *testing.T) {
			v := mustQuantize(t, d, dim, rows)
			if !v.Aligned() || v.N != n || len(v.Data) != n*RowBytes(d, dim) {
				t.Fatalf("aligned %v, N %d, %d bytes", v.Aligned(), v.N, len(v.Data))
			}
			if err := v.Validate(); err != nil {
				t.Fatal(err)
			}
			minCos := 1.0
			for i, x := range rows {
				y := v.Row(i)
				switch d {
				case F32:
					for j := range x {
						if math.Float32bits(x[j]) != math.Float32bits(y[j]) {
							t.Fatalf("row %d dim %d: %v != %v", i, j, y[j], x[j])
						}
					}
				case F16:
					for j := range x {
						if want := gguf.F16ToF32(gguf.F32ToF16(x[j])); y[j] != want {
							t.Fatalf("row %d dim %d: %v, want f16 rounding %v", i, j, y[j], want)
						}
					}
				case Int8:
					s := v.Scales[i]
					for j := range x {
						if e := math.Abs(float64(y[j] - x[j])); e > float64(s)/2*(1+1e-5) {
							t.Fatalf("row %d dim %d: error %g > scale/2 = %g", i, j, e, s/2)
						}
					}
					minCos = min(minCos, cosine(x, y))
				case Binary:
					for j := range x {
						if (x[j] > 0) != (y[j] == 1) || math.Abs(float64(y[j])) != 1 {
							t.Fatalf("row %d dim %d: x %v -> %v", i, j, x[j], y[j])
						}
					}
				}
			}
			if d == Int8 && minCos < 0.999 {
				t.Fatalf("int8 min cosine %.5f < 0.999", minCos)
			}
		})
	}
}

// TestInt8SingleVector is sentence-transformers #2837: quantizing one vector
// must not depend on a batch (there, a single vector became all zeros).
func TestInt8SingleVector(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rows := unitRows(rng, 50, 64)
	batch := mustQuantize(t, Int8, 64, rows)
	for i, r := range rows {
		one := mustQuantize(t, Int8, 64, [][]float32{r})
		if string(one.Data) != string(batch.Data[i*64:(i+1)*64]) || one.Scales[0] != batch.Scales[i] {
			t.Fatalf("row %d quantizes differently alone", i)
		}
		if c := cosine(r, one.Row(0)); c < 0.999 {
			t.Fatalf("row %d alone: cosine %.5f", i, c)
		}
	}
}

func TestQuantizeRejects(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	for _, d := range allDTypes {
		wantErr(t, func() error { _, err := Quantize(d, 3, [][]float32{{1, 2, 3}, {1, nan, 3}}); return err }(), "row 1", "NaN at dimension 1")
		wantErr(t, func() error { _, err := Quantize(d, 3, [][]float32{{-inf, 2, 3}}); return err }(), "row 0", "-Inf at dimension 0")
		wantErr(t, func() error { _, err := Quantize(d, 3, [][]float32{{1, 1, 1}, {1, 1, 1}, {0, 0, 0}}); return err }(), "row 2", "all-zero")
		wantErr(t, func() error { _, err := Quantize(d, 3, [][]float32{{1, 2}}); return err }(), "row 0", "length 2, want 3")
	}
	wantErr(t, func() error { _, err := Quantize(F16, 2, [][]float32{{1, 1e6}}); return err }(), "row 0", "overflows f16")
	wantErr(t, func() error { _, err := Quantize(F16, 2, [][]float32{{1e-9, -1e-9}}); return err }(), "row 0", "underflows")
	wantErr(t, func() error { _, err := Quantize(0, 2, nil); return err }(), "dtype")
	wantErr(t, func() error { _, err := Quantize(F32, 0, nil); return err }(), "dim 0")
}

func TestVectorsValidate(t *testing.T) {
	v := mustQuantize(t, Int8, 4, [][]float32{{1, -1, 0.5, 0}})
	v.Data[0] = 0x80
	wantErr(t, v.Validate(), "row 0", "-128")
	v = mustQuantize(t, Int8, 4, [][]float32{{1, -1, 0.5, 0}})
	v.Scales[0] = float32(math.NaN())
	wantErr(t, v.Validate(), "scale")
	b := mustQuantize(t, Binary, 5, [][]float32{{1, -1, 1, 1, 1}})
	if b.Data[0] != 0b11101 {
		t.Fatalf("binary byte %08b, want 00011101 (LSB first)", b.Data[0])
	}
	b.Data[0] |= 0x80
	wantErr(t, b.Validate(), "padding")
	f := mustQuantize(t, F32, 2, [][]float32{{1, 2}})
	f.Data = f.Data[:7]
	wantErr(t, f.Validate(), "7 bytes")
	f = mustQuantize(t, F32, 2, [][]float32{{1, 2}})
	f.Scales = []float32{1}
	wantErr(t, f.Validate(), "only int8")
}

func TestAlignedBytes(t *testing.T) {
	for n := 1; n < 300; n += 7 {
		if b := alignedBytes(n); len(b) != n || !isAligned(b) {
			t.Fatalf("alignedBytes(%d): len %d aligned %v", n, len(b), isAligned(b))
		}
	}
	v, err := NewVectors(Binary, 384, 10)
	if err != nil || !v.Aligned() {
		t.Fatal(err)
	}
	s := v.Slice(2, 5)
	if s.N != 3 || len(s.Data) != 3*48 {
		t.Fatalf("slice: %d rows, %d bytes", s.N, len(s.Data))
	}
}
