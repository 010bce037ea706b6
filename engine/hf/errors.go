package hf

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/internal/fsx"
)

// Errors that Load returns wrap one of these (test with errors.Is), or an
// fs error such as os.ErrNotExist for a missing folder or file. The message
// itself names the file, the field or the tensor.
var (
	// ErrUnsupported: a valid model that quarry cannot run, such as a
	// RoBERTa or MPNet checkpoint, a tanh GELU or max pooling.
	ErrUnsupported = errors.New("unsupported model")
	// ErrInvalid: files that are broken or disagree with each other: bad
	// JSON, a tensor of the wrong shape, a vocabulary of the wrong size.
	ErrInvalid = errors.New("invalid model files")
)

// inputError carries a complete message and a kind (ErrUnsupported or
// ErrInvalid) without repeating the kind's text in the message.
type inputError struct {
	kind error
	msg  string
}

func (e *inputError) Error() string { return e.msg }
func (e *inputError) Unwrap() error { return e.kind }

// ErrorKind classifies broken and unsupported model files alike as the
// caller's input (engine/errs).
func (e *inputError) ErrorKind() errs.Kind { return errs.BadInput }

func unsupported(format string, args ...any) error {
	return &inputError{ErrUnsupported, fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) error {
	return &inputError{ErrInvalid, fmt.Sprintf(format, args...)}
}

// jsonProblem describes a JSON decoding error by line, column and field.
func jsonProblem(data []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := lineCol(data, se.Offset)
		return fmt.Sprintf("invalid JSON at line %d, column %d: %v", line, col, se)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(top level)"
		}
		return fmt.Sprintf("field %q: a JSON %s where %s is expected", field, te.Value, goTypeName(te.Type.String()))
	}
	return err.Error()
}

func goTypeName(t string) string {
	switch {
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "*int"):
		return "an integer"
	case strings.HasPrefix(t, "float"), strings.HasPrefix(t, "*float"):
		return "a number"
	case t == "string", t == "*string":
		return "a string"
	case t == "bool", t == "*bool":
		return "true or false"
	case strings.HasPrefix(t, "[]"):
		return "an array"
	case strings.HasPrefix(t, "map"), strings.HasPrefix(t, "struct"), strings.HasPrefix(t, "hf."):
		return "an object"
	}
	return t
}

func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line, col := 1, 1
	for _, b := range data[:off] {
		if b == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// readJSON decodes the JSON file path into v. A missing file returns
// found false and no error; any other problem is an ErrInvalid error naming
// the file (shown as name) and the field.
// maxJSONBytes bounds a configuration JSON file of a checkpoint folder.
const maxJSONBytes = 64 << 20

func readJSON(path, name string, v any) (found bool, err error) {
	data, err := fsx.ReadRegular(path, name, maxJSONBytes)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", name, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, invalid("%s: %s", name, jsonProblem(data, err))
	}
	return true, nil
}
