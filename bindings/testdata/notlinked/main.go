// Command notlinked calls every entry point of package bindings in a program
// that does not link the native core (it does not import
// internal/nativelink): each must report ErrNotLinked, never call a NULL
// function. TestNotLinked builds and runs it; it prints the error and "ok".
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/quarry-search/quarry/bindings"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "notlinked:", err)
		os.Exit(1)
	}
	fmt.Println("ok")
}

func run() error {
	if bindings.Available {
		return errors.New("Available is true without the native libraries")
	}
	_, err := bindings.Load("model.gguf", bindings.Params{})
	fmt.Println(err)
	errs := []error{err}
	_, err = bindings.Quantize(8, make([]float32, 32), 1, 32)
	errs = append(errs, err)
	_, _, _, err = bindings.TopK(make([]float32, 4), 1, &bindings.Vectors{Type: bindings.VecF32, Dim: 4, N: 1, Data: make([]byte, 16)}, 1, 1)
	errs = append(errs, err)
	for i, err := range errs {
		if !errors.Is(err, bindings.ErrNotLinked) || !errors.Is(err, bindings.ErrNoNative) {
			return fmt.Errorf("call %d: %v, want ErrNotLinked", i, err)
		}
	}
	if n := bindings.RowSize(0, 32); n != -1 {
		return fmt.Errorf("RowSize = %d, want -1", n)
	}
	if s := bindings.SystemInfo(); s != "" {
		return fmt.Errorf("SystemInfo = %q, want \"\"", s)
	}
	return nil
}
