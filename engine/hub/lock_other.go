//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package hub

import (
	"errors"
	"os"
)

// tryLock is unsupported here (no flock): downloads go on unlocked.
func tryLock(*os.File) (bool, error) { return false, errors.New("file locks unsupported") }

func unlock(*os.File) {}
