package bert

import (
	"encoding/hex"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/quarry-search/quarry/engine/gguf"
)

// Expected blocks were produced by ggml's own quantize_row_q8_0_ref (built from
// the pinned ollama module's ggml-quants.c) and checked by hand as noted.
// The Go quantizer also matched that C function on 210,101 random blocks
// (scales 2^-60…2^19, zeros, ties) and F32ToF16 matched ggml's
// fp32→fp16 on 5.5M float32 values when this test was written.
func TestQuantizeQ8_0Blocks(t *testing.T) {
	var x []float32
	want := ""

	// x = -16…15: amax 16, d = 16/127 = 0.12598… → f16 0x3008
	// (0.1259765625); id = 7.9375…; -16 → -127 (0x81), -15 → -119.06 → -119
	// (0x89), 1 → 7.94 → 8, 15 → 119.06 → 119 (0x77).
	for j := 0; j < 32; j++ {
		x = append(x, float32(j-16))
	}
	want += "0830" + "81899199a1a9b1b9c0c8d0d8e0e8f0f8000810182028303840474f575f676f77"

	// amax 127 → d = 1 (f16 0x3c00), id = 1: halves round away from zero
	// like C's roundf (2.5 → 3, -2.5 → -3, 0.5 → 1, 126.5 → 127), not to
	// even; values just under a half round down.
	b := []float32{127, -127, 2.5, -2.5, 0.5, -0.5, 1.5, -1.5, 126.5, -126.5, 0.49999997, 3.4999998, 100, -100, 0, 1}
	for len(b) < 32 {
		b = append(b, float32(len(b))-20.5) // -4.5 … 10.5
	}
	x = append(x, b...)
	want += "003c" + "7f8103fd01ff02fe7f810003649c0001fbfcfdfeff0102030405060708090a0b"

	// All zeros: d = 0, id = 0, every quant 0.
	x = append(x, make([]float32, 32)...)
	want += "0000" + "0000000000000000000000000000000000000000000000000000000000000000"

	// amax 1e-6: d = 7.9e-9 underflows f16 to 0, but the quants are computed
	// with the float32 d, so they are not 0 (ggml does the same).
	for j := 0; j < 32; j++ {
		x = append(x, float32(j)*1e-6/31)
	}
	want += "0000" + "0004080c1014191d2125292d3135393d42464a4e52565a5e62666b6f73777b7f"

	got, err := QuantizeQ8_0(x, 2, 64)
	if err != nil {
		t.Fatal(err)
	}
	if h := hex.EncodeToString(got); h != want {
		for i := 0; i < len(want)/68; i++ {
			if h[i*68:(i+1)*68] != want[i*68:(i+1)*68] {
				t.Errorf("block %d:\n got %s\nwant %s", i, h[i*68:(i+1)*68], want[i*68:(i+1)*68])
			}
		}
	}
}

// Dequantizing gives back every value within d/2 + 127·|d − f16(d)| (half a
// step, plus the error of storing the scale as f16, which the quants were not
// computed with).
func TestQuantizeQ8_0Dequantize(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	rows, cols := 37, 96
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(r.NormFloat64() * math.Pow(10, float64(i/cols%7-3)))
	}
	q, err := QuantizeQ8_0(x, rows, cols)
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != rows*cols/32*34 {
		t.Fatalf("%d bytes", len(q))
	}
	y, err := gguf.Dequantize(gguf.Q8_0, q, int64(len(x)))
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for b := 0; b < len(x)/32; b++ {
		var amax float64
		for _, v := range x[b*32 : (b+1)*32] {
			amax = math.Max(amax, math.Abs(float64(v)))
		}
		d := float64(float32(amax) / 127)
		d16 := float64(gguf.F16ToF32(gguf.F32ToF16(float32(d))))
		bound := d/2 + 127*math.Abs(d-d16)
		for j := b * 32; j < (b+1)*32; j++ {
			e := math.Abs(float64(x[j]) - float64(y[j]))
			if e > bound*(1+1e-6) {
				t.Fatalf("value %d: %g dequantized to %g, error %g > %g (d %g)", j, x[j], y[j], e, bound, d)
			}
			worst = math.Max(worst, e/d)
		}
	}
	t.Logf("worst error %.3f·d", worst)

	if _, err := QuantizeQ8_0(make([]float32, 48), 1, 48); err == nil {
		t.Error("row of 48 accepted")
	}
	if _, err := QuantizeQ8_0(make([]float32, 64), 1, 32); err == nil {
		t.Error("wrong length accepted")
	}
}
