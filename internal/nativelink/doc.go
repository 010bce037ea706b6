// Package nativelink links quarry's native core (the static libraries that
// `make native` builds into build/lib) into the programs and tests of this
// repository. Import it for its side effect in a main package, or in a
// nativelink_test.go file of a package whose tests need the native core:
//
//	import _ "github.com/quarry-search/quarry/internal/nativelink"
//
// Package bindings refers to the C API weakly and links without the
// libraries (every call then returns bindings.ErrNotLinked); this package
// adds the libraries to the link and an anchor that references every
// function strongly, so the linker takes them from the archives (see package
// nativeapi). An application outside this repository gets the same from the
// file quarry_native.go that cmd/quarry-native writes.
//
// Built with CGO_ENABLED=0 or the quarry_nonative tag it is empty.
package nativelink
