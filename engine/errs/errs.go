// Package errs is the one home of quarry's error kinds: every error the
// engine returns can be classified into a Kind, and the front ends map a kind
// to an exit status (the CLI) or an HTTP status (the server) in one table
// each, never by matching error text.
//
// A typed error anywhere in a chain declares its kind by implementing Kinded;
// Mark attaches a kind to any error; KindOf finds the outermost kind of a
// chain (Internal when none is declared).
package errs

import (
	"errors"
	"fmt"
)

// Kind classifies a failure by who can fix it.
type Kind int

// The kinds. The zero value is Internal.
const (
	// Internal is a failure of quarry or of the machine (an I/O error, a
	// bug): nothing the caller sent was wrong.
	Internal Kind = iota
	// BadInput is a request, flag, file or record the caller can fix: a
	// missing or malformed file, a model of the wrong kind, a bad filter,
	// an unknown field, a value out of range.
	BadInput
	// NotFound is a named thing that does not exist: an index directory
	// without an index, a document id the index does not hold.
	NotFound
	// Conflict is a request that clashes with the state: an index that
	// already exists, a model that does not match the index, an index locked
	// by another writer.
	Conflict
	// Corrupt is stored data that fails its checksums or structure checks.
	Corrupt
	// Limit is a request over a configured bound (size, count, length).
	Limit
	// Unavailable is a capability this build or machine lacks (no native
	// core linked, no GPU).
	Unavailable
	// Canceled is a request stopped by its context (canceled or past its
	// deadline).
	Canceled
)

var kindNames = [...]string{
	Internal: "internal", BadInput: "bad_input", NotFound: "not_found", Conflict: "conflict",
	Corrupt: "corrupt", Limit: "limit", Unavailable: "unavailable", Canceled: "canceled",
}

// String is the kind's stable name (used in JSON error bodies).
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Kinded is implemented by typed errors that know their kind.
type Kinded interface {
	error
	ErrorKind() Kind
}

// marked is an error with a kind attached by Mark.
type marked struct {
	err  error
	kind Kind
}

func (e *marked) Error() string   { return e.err.Error() }
func (e *marked) Unwrap() error   { return e.err }
func (e *marked) ErrorKind() Kind { return e.kind }

// Mark attaches kind to err (nil stays nil). The message is unchanged and
// errors.Is / errors.As still see err.
func Mark(kind Kind, err error) error {
	if err == nil {
		return nil
	}
	return &marked{err: err, kind: kind}
}

// New is Mark(kind, fmt.Errorf(format, args...)).
func New(kind Kind, format string, args ...any) error {
	return &marked{err: fmt.Errorf(format, args...), kind: kind}
}

// KindOf is the kind of the outermost error in err's chain that declares one;
// context cancellation is Canceled; anything else is Internal. nil is
// Internal too (callers check err != nil first).
func KindOf(err error) Kind {
	var k Kinded
	if errors.As(err, &k) {
		return k.ErrorKind()
	}
	if isContext(err) {
		return Canceled
	}
	return Internal
}

// Is reports whether err is of kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }
