package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/quarry-search/quarry/engine/errs"
)

// Error types of the error bodies: TEI's (Unhealthy, Backend, Overloaded,
// Validation, Tokenizer, Empty) and quarry's own routes' additions.
const (
	typeUnhealthy    = "Unhealthy"
	typeBackend      = "Backend"
	typeOverloaded   = "Overloaded"
	typeValidation   = "Validation"
	typeTokenizer    = "Tokenizer"
	typeEmpty        = "Empty"
	typeNotFound     = "NotFound"
	typeUnauthorized = "Unauthorized"
	typeTooLarge     = "PayloadTooLarge"
	typeConflict     = "Conflict"
	typeMethod       = "MethodNotAllowed"
)

// httpError is an error answered with an HTTP status and an error type.
type httpError struct {
	status     int
	typ        string
	msg        string
	retryAfter int // seconds; 0 = no Retry-After header
	// badRecords are the bad records of a rejected write.
	badRecords []badRecord
}

func (e *httpError) Error() string { return e.msg }

func newError(status int, typ, format string, args ...any) *httpError {
	return &httpError{status: status, typ: typ, msg: fmt.Sprintf(format, args...)}
}

// invalid is a 422 naming a field: "k: must be 1..10000".
func invalid(format string, args ...any) *httpError {
	return newError(http.StatusUnprocessableEntity, typeValidation, format, args...)
}

// empty is a 400 for an empty input.
func empty(format string, args ...any) *httpError {
	return newError(http.StatusBadRequest, typeEmpty, format, args...)
}

// backend is a 424 (TEI: the model cannot do it, or failed).
func backend(format string, args ...any) *httpError {
	return newError(http.StatusFailedDependency, typeBackend, format, args...)
}

// errDeadline is the answer to a request past its deadline.
var errDeadline = &httpError{status: http.StatusServiceUnavailable, typ: typeOverloaded, msg: "the request ran past its deadline (the server is overloaded, or the request is too big for its deadline)", retryAfter: 1}

// statusOf maps any error to its HTTP error: the one table from engine
// error kinds to statuses.
func statusOf(err error) *httpError {
	var he *httpError
	if errors.As(err, &he) {
		return he
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return newError(http.StatusRequestEntityTooLarge, typeTooLarge, "the request body is larger than the payload limit of %d bytes (--payload-limit)", mbe.Limit)
	}
	if errors.Is(err, ErrBatcherClosed) {
		return &httpError{status: http.StatusServiceUnavailable, typ: typeUnhealthy, msg: "the server is shutting down", retryAfter: 1}
	}
	switch errs.KindOf(err) {
	case errs.BadInput, errs.Limit:
		return invalid("%s", err.Error())
	case errs.NotFound:
		return newError(http.StatusNotFound, typeNotFound, "%s", err.Error())
	case errs.Conflict:
		return newError(http.StatusConflict, typeConflict, "%s", err.Error())
	case errs.Unavailable:
		return backend("%s", err.Error())
	case errs.Canceled:
		if errors.Is(err, context.DeadlineExceeded) {
			return errDeadline
		}
		// The client went away: nobody reads the answer (nginx's 499).
		return &httpError{status: statusClientClosed, typ: typeBackend, msg: "the client closed the request"}
	}
	return &httpError{status: http.StatusInternalServerError, typ: typeBackend, msg: err.Error()}
}

// statusClientClosed is logged for requests whose client went away.
const statusClientClosed = 499

// family is the error body shape of a route.
type family uint8

const (
	familyTEI    family = iota // {"error": "...", "error_type": "..."}
	familyOpenAI               // {"error": {"message", "type", "param", "code"}}
)

// teiError is TEI's error body (also quarry's own routes').
type teiError struct {
	Error      string      `json:"error"`
	ErrorType  string      `json:"error_type"`
	BadRecords []badRecord `json:"bad_records,omitempty"`
}

// openAIError is OpenAI's error body.
type openAIError struct {
	Error openAIErrorBody `json:"error"`
}

type openAIErrorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    string  `json:"code"`
}

// openAIType is OpenAI's error type for a status.
func openAIType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status >= 500 || status == http.StatusFailedDependency:
		return "server_error"
	}
	return "invalid_request_error"
}

// writeError answers err in the family's shape.
func writeError(w http.ResponseWriter, f family, err error) {
	he := statusOf(err)
	if he.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(he.retryAfter))
	}
	if he.status == statusClientClosed {
		w.WriteHeader(he.status)
		return
	}
	var body any = teiError{Error: he.msg, ErrorType: he.typ, BadRecords: he.badRecords}
	if f == familyOpenAI {
		var code string
		var param *string
		switch {
		case he.status == http.StatusUnauthorized:
			code = "invalid_api_key"
		case he.typ == typeNotFound:
			// The only 404 of the OpenAI routes is an unknown `model`.
			code, param = "model_not_found", ptr("model")
		default:
			code = strings.ToLower(he.typ)
		}
		body = openAIError{Error: openAIErrorBody{Message: he.msg, Type: openAIType(he.status), Param: param, Code: code}}
	}
	b, _ := json.Marshal(body)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(he.status)
	w.Write(append(b, '\n'))
}

func ptr[T any](v T) *T { return &v }
