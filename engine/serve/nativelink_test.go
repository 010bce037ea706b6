package serve_test

// The native-backed tests link the native core from build/lib (make native).
import _ "github.com/quarry-search/quarry/internal/nativelink"
