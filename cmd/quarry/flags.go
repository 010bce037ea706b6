package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/quarry-search/quarry/engine"
	"github.com/urfave/cli/v2"
)

// Flag validation at the edge: each helper sets a flag's Action, which
// urfave/cli runs (only for flags given) before the command's action, so a
// value out of range is a usageError (exit 2, one line on stderr) before
// anything is opened or loaded.

// Upper bounds of the integer flags (quarry --help lists them). A value
// above its bound is a usage error (exit 2), never an allocation.
const (
	maxResults     = engine.MaxK // --k, --pool, --rescore, --rerank-top, --depth
	maxThreads     = 1024        // --threads
	maxBatch       = 1 << 16     // texts, passages or pairs per native call; queries per search batch
	maxTokens      = 1 << 16     // --window, --overlap, --max-tokens (word pieces)
	maxBatchTokens = 1 << 24     // --batch-tokens
	maxKTokens     = 1 << 20     // --k-tokens (SPLADE vocabularies are ~30k)
	maxRows        = 1 << 28     // row, pair and passage counts: --segment-passages, --top, bench sizes
	maxDim         = 1 << 16     // bench --dim
	maxRepeat      = 1000        // bench --repeat
	maxQueryBytes  = maxLine     // --max-query-bytes (one input line)
)

// intIn rejects values of f outside [lo, hi]. urfave/cli parses an IntFlag
// as an int64, so without hi any value up to 2^63−1 would reach an
// allocation or a narrower integer.
func intIn(lo, hi int, f *cli.IntFlag) *cli.IntFlag {
	f.Action = func(_ *cli.Context, v int) error {
		switch {
		case v < lo:
			return badInput("--%s %d: want ≥ %d", f.Name, v, lo)
		case v > hi:
			return badInput("--%s %d: want ≤ %d (the limit)", f.Name, v, hi)
		}
		return nil
	}
	return f
}

// between rejects values of f outside [lo, hi] (and NaN).
func between(lo, hi float64, f *cli.Float64Flag) *cli.Float64Flag {
	f.Action = func(_ *cli.Context, v float64) error {
		if !(v >= lo && v <= hi) {
			return badInput("--%s %v: want %v ≤ %s ≤ %v", f.Name, v, lo, f.Name, hi)
		}
		return nil
	}
	return f
}

// nonNegative rejects negative values of f (and NaN, ±Inf).
func nonNegative(f *cli.Float64Flag) *cli.Float64Flag {
	f.Action = func(_ *cli.Context, v float64) error {
		if !(v >= 0) || v > 1e300 {
			return badInput("--%s %v: want a finite value ≥ 0", f.Name, v)
		}
		return nil
	}
	return f
}

// oneOf rejects values of f other than values.
func oneOf(f *cli.StringFlag, values ...string) *cli.StringFlag {
	f.Action = func(_ *cli.Context, v string) error {
		for _, ok := range values {
			if v == ok {
				return nil
			}
		}
		return badInput("--%s %q: want %s", f.Name, v, strings.Join(values, " or "))
	}
	return f
}

// parseSize reads a byte size: a whole number of bytes with an optional
// unit, decimal (kB, MB, GB, TB: powers of 1000, as TEI's --payload-limit
// 2MB) or binary (KiB, MiB, GiB, TiB), case-insensitive, an optional "B".
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 2MB, 64MiB, 1048576)", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size: %v", s, err)
	}
	units := map[string]int64{"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
	mul, ok := units[strings.ToLower(strings.TrimSpace(t[i:]))]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit %q (B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)", s, strings.TrimSpace(t[i:]))
	}
	if n > math.MaxInt64/mul {
		return 0, fmt.Errorf("%q overflows 63 bits", s)
	}
	return n * mul, nil
}

// sizeIn is a byte-size flag (parseSize) within [lo, hi].
func sizeIn(lo, hi int64, f *cli.StringFlag) *cli.StringFlag {
	f.Action = func(_ *cli.Context, v string) error {
		n, err := parseSize(v)
		switch {
		case err != nil:
			return badInput("--%s: %v", f.Name, err)
		case n < lo || n > hi:
			return badInput("--%s %s: want %d to %d bytes", f.Name, v, lo, hi)
		}
		return nil
	}
	return f
}
