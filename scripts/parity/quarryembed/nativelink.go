package main

// The native core is linked in from build/lib (make native).
import _ "github.com/quarry-search/quarry/internal/nativelink"
