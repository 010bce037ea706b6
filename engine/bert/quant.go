package bert

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/quarry-search/quarry/engine/gguf"
)

// Q8_0 block layout (ggml's block_q8_0): an f16 scale d, then 32 int8 quants.
const (
	q8Block     = 32
	q8BlockSize = 2 + q8Block
)

// QuantizeQ8_0 quantizes rows×cols float32 values (row-major, cols a multiple
// of 32) to ggml's Q8_0 blocks. It reproduces ggml's quantize_row_q8_0_ref
// bit for bit: per block of 32, amax = max|x| and d = amax/127 in float32,
// id = 1/d (0 when d is 0), q = roundf(x*id) (halves away from zero), and d
// stored as f16 rounded to nearest even.
func QuantizeQ8_0(data []float32, rows, cols int) ([]byte, error) {
	if rows < 0 || cols <= 0 || cols%q8Block != 0 {
		return nil, fmt.Errorf("q8_0: row length %d is not a positive multiple of %d", cols, q8Block)
	}
	if len(data) != rows*cols {
		return nil, fmt.Errorf("q8_0: %d values for %d×%d", len(data), rows, cols)
	}
	nb := len(data) / q8Block
	out := make([]byte, nb*q8BlockSize)
	for b := 0; b < nb; b++ {
		x := data[b*q8Block : (b+1)*q8Block]
		y := out[b*q8BlockSize : (b+1)*q8BlockSize]
		var amax float32
		for _, v := range x {
			// MAX(amax, fabsf(v)) in C: a NaN v leaves amax unchanged
			// because the comparison is false.
			if a := float32(math.Abs(float64(v))); a > amax {
				amax = a
			}
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(y, gguf.F32ToF16(d))
		for j, v := range x {
			// x*id is a float32 product, as in C; roundf rounds halves away
			// from zero, as math.Round does. The result is within ±127.
			y[2+j] = byte(int8(math.Round(float64(float32(v * id)))))
		}
	}
	return out, nil
}
