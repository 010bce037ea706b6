package bindings

import (
	"errors"
	"runtime/debug"
	"strings"
	"testing"
)

func TestCheckLinked(t *testing.T) {
	if err := checkLinked(1, ""); err != nil {
		t.Errorf("linked: %v", err)
	}
	for _, linked := range []int{0, -1} {
		err := checkLinked(linked, "")
		if err == nil || !errors.Is(err, ErrNoNative) || !strings.Contains(err.Error(), "`"+NativeCommand+"`") {
			t.Errorf("checkLinked(%d) = %v", linked, err)
		}
	}
	if !errors.Is(checkLinked(0, ""), ErrNotLinked) {
		t.Error("not linked is not ErrNotLinked")
	}
	// A test binary has quarry as its main module: no version to compare.
	if err := checkLinked(1, "v1.2.3"); err != nil {
		t.Errorf("in the main module: %v", err)
	}
}

func TestModuleVersion(t *testing.T) {
	for _, tc := range []struct {
		deps []*debug.Module
		want string
	}{
		{nil, ""},
		{[]*debug.Module{{Path: "example.com/x", Version: "v1.0.0"}}, ""},
		{[]*debug.Module{{Path: modulePath, Version: "v0.3.0"}}, "v0.3.0"},
		{[]*debug.Module{{Path: modulePath, Version: "v0.3.0", Replace: &debug.Module{Path: "../quarry"}}}, ""},
		{[]*debug.Module{{Path: modulePath, Version: "v0.3.0", Replace: &debug.Module{Path: "example.com/fork", Version: "v0.3.1"}}}, "v0.3.1"},
	} {
		if got := moduleVersion(&debug.BuildInfo{Deps: tc.deps}); got != tc.want {
			t.Errorf("moduleVersion(%v) = %q, want %q", tc.deps, got, tc.want)
		}
	}
}
