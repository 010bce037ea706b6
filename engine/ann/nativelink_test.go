package ann

// The tests link the native core from build/lib (make native).
import _ "github.com/quarry-search/quarry/internal/nativelink"
