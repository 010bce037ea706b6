package web_test

// The browser test starts a server on the native core from build/lib (make native).
import _ "github.com/quarry-search/quarry/internal/nativelink"
