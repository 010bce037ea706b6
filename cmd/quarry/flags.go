package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// Flag validation at the edge: each helper sets a flag's Action, which
// urfave/cli runs (only for flags given) before the command's action, so a
// value out of range is a usageError (exit 2, one line on stderr) before
// anything is opened or loaded.

// atLeast rejects values of f below lo.
func atLeast(lo int, f *cli.IntFlag) *cli.IntFlag {
	f.Action = func(_ *cli.Context, v int) error {
		if v < lo {
			return badInput("--%s %d: want ≥ %d", f.Name, v, lo)
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
