package hub

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/quarry-search/quarry/engine/errs"
)

// Kinds of failure. Every error Download returns wraps at most one of these
// (test with errors.Is); an *HTTPError, where the hub answered with an error
// status, is wrapped too (test with errors.As).
var (
	// ErrInvalidRepo: the repository id or revision is malformed.
	ErrInvalidRepo = errors.New("invalid repository id")
	// ErrRepoNotFound: the repository does not exist, or is private or
	// gated and the request carried no token (the hub answers 401 for both).
	ErrRepoNotFound = errors.New("repository not found")
	// ErrRevisionNotFound: the repository exists but not the branch, tag or
	// commit.
	ErrRevisionNotFound = errors.New("revision not found")
	// ErrFileNotFound: a file listed as needed is absent at that commit.
	ErrFileNotFound = errors.New("file not found")
	// ErrUnauthorized: authentication is needed or the token was rejected.
	ErrUnauthorized = errors.New("authentication required")
	// ErrForbidden: the token is valid but has no access (gated repository
	// whose terms were not accepted, or a token without read permission).
	ErrForbidden = errors.New("access denied")
	// ErrUnsupported: the repository holds no model quarry can convert (not
	// BERT, no supported weights, no tokenizer, no config.json).
	ErrUnsupported = errors.New("unsupported model")
	// ErrNotCached: offline, and the cache lacks what is needed.
	ErrNotCached = errors.New("not in the local cache")
	// ErrIntegrity: a download does not match its size or hash.
	ErrIntegrity = errors.New("integrity check failed")
	// ErrNetwork: the hub could not be reached, or it kept failing (5xx,
	// connection errors) after every retry.
	ErrNetwork = errors.New("hub unreachable")
	// ErrTooLarge: a file is listed, declared or served larger than its
	// listed size or than Options.MaxConfigSize / MaxWeightsSize.
	ErrTooLarge = errors.New("file too large")
)

// HTTPError is an error status from the hub or its CDN.
type HTTPError struct {
	StatusCode int
	Code       string // X-Error-Code, e.g. RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo
	Message    string // X-Error-Message
	URL        string // the request URL without its query (CDN URLs are signed)
	RequestID  string // X-Request-Id, for reports to the hub's operators
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" {
		s += " (" + e.Code + ")"
	}
	if e.Message != "" && e.Message != http.StatusText(e.StatusCode) {
		s += ": " + e.Message
	}
	s += " from " + e.URL
	if e.RequestID != "" {
		s += " [request " + e.RequestID + "]"
	}
	return s
}

// Error is what Download returns for every failure it classifies: a message
// meant for people, with the kind (one of the Err* values) and the cause
// wrapped.
type Error struct {
	Kind  error // one of the Err* sentinels, or nil
	Msg   string
	Cause error // *HTTPError, a network error, an I/O error, or nil
}

func (e *Error) Error() string {
	if e.Cause != nil && !errors.Is(e.Cause, e.Kind) {
		return e.Msg + ": " + e.Cause.Error()
	}
	return e.Msg
}

// Unwrap returns the kind and the cause.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Cause != nil {
		errs = append(errs, e.Cause)
	}
	return errs
}

// ErrorKind classifies the error for the engine's error table (engine/errs):
// ErrTooLarge is errs.Limit, ErrIntegrity errs.Corrupt, the errors a user
// fixes by changing the request or the credentials errs.BadInput, a canceled
// request errs.Canceled, anything else errs.Internal.
func (e *Error) ErrorKind() errs.Kind {
	switch e.Kind {
	case ErrTooLarge:
		return errs.Limit
	case ErrIntegrity:
		return errs.Corrupt
	case ErrInvalidRepo, ErrRepoNotFound, ErrRevisionNotFound, ErrFileNotFound,
		ErrUnauthorized, ErrForbidden, ErrUnsupported:
		return errs.BadInput
	}
	if e.Cause != nil {
		if k := errs.KindOf(e.Cause); k != errs.Internal {
			return k
		}
	}
	return errs.Internal
}

func newError(kind error, cause error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...), Cause: cause}
}
