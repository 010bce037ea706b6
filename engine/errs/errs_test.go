package errs

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

type corruptErr struct{}

func (corruptErr) Error() string   { return "bad block" }
func (corruptErr) ErrorKind() Kind { return Corrupt }

func TestKindOf(t *testing.T) {
	base := errors.New("x")
	cases := []struct {
		err  error
		want Kind
	}{
		{base, Internal},
		{Mark(BadInput, base), BadInput},
		{fmt.Errorf("open: %w", Mark(NotFound, base)), NotFound},
		{fmt.Errorf("wrap: %w", corruptErr{}), Corrupt},
		{Mark(Limit, fmt.Errorf("inner: %w", corruptErr{})), Limit}, // outermost wins
		{fmt.Errorf("search: %w", context.Canceled), Canceled},
		{context.DeadlineExceeded, Canceled},
		{New(Conflict, "index %s exists", "d"), Conflict},
	}
	for i, c := range cases {
		if got := KindOf(c.err); got != c.want {
			t.Errorf("%d: KindOf(%v) = %v, want %v", i, c.err, got, c.want)
		}
	}
	if Mark(BadInput, nil) != nil {
		t.Fatal("Mark(nil) must be nil")
	}
	e := Mark(BadInput, base)
	if !errors.Is(e, base) || e.Error() != "x" {
		t.Fatalf("Mark must keep the chain and the message: %v", e)
	}
	if !Is(e, BadInput) || Is(nil, Internal) {
		t.Fatal("Is")
	}
	if BadInput.String() != "bad_input" || Kind(99).String() != "kind(99)" {
		t.Fatal("String")
	}
}
