package bindings

import (
	"fmt"
	"runtime/debug"
)

// modulePath is the path of the Go module this package belongs to.
const modulePath = "github.com/quarry-search/quarry"

// NativeCommand is the command that builds the native core for an
// application and links it in: run it in the directory of the application's
// main package, then build again.
const NativeCommand = "go run " + modulePath + "/cmd/quarry-native"

// ErrNotLinked is returned by every function when the program was built with
// cgo but without quarry's native libraries, as an application is until
// NativeCommand has been run in its main package's directory. It matches
// ErrNoNative with errors.Is.
var ErrNotLinked error = &linkError{msg: "quarry's native core is not linked into this program: run `" + NativeCommand +
	"` in the directory of your main package, then build again"}

// linkError is a native core that is missing or does not match this package;
// errors.Is(err, ErrNoNative) holds.
type linkError struct{ msg string }

func (e *linkError) Error() string        { return e.msg }
func (e *linkError) Is(target error) bool { return target == ErrNoNative }

// checkLinked turns what the C side reports into the error every entry point
// returns, nil when the native core can be used. linked is 1 when every
// function of the C API is defined, 0 when none is and -1 when only some are;
// module is the quarry version that quarry_native.go was generated for ("" in
// this repository's own builds).
func checkLinked(linked int, module string) error {
	switch {
	case linked == 0:
		return ErrNotLinked
	case linked < 0:
		return &linkError{msg: "quarry's native libraries linked into this program lack functions of its C API (libraries of another quarry version): run `" +
			NativeCommand + "` in the directory of your main package, then build again"}
	}
	if module == "" {
		return nil
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	if v := moduleVersion(bi); v != "" && v != module {
		return &linkError{msg: fmt.Sprintf("quarry's native core linked into this program was built for quarry %s, but the program uses quarry %s: run `%s` in the directory of your main package, then build again",
			module, v, NativeCommand)}
	}
	return nil
}

// moduleVersion is the version of quarry the program was built with, or ""
// when it has none to compare (quarry is the main module, or replaced by a
// directory).
func moduleVersion(bi *debug.BuildInfo) string {
	for _, m := range bi.Deps {
		if m.Path != modulePath {
			continue
		}
		if m.Replace != nil {
			return m.Replace.Version
		}
		return m.Version
	}
	return ""
}
