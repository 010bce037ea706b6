package fsx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ownFiles are the os.Open calls that read files quarry made itself (inside
// an index directory, the download cache, the native build) or directories:
// never a path a user names as an input. Every other read goes through
// OpenRegular.
var ownFiles = map[string]int{
	"engine/store/fs.go":         2, // OSFS: every index file and the index directory go through the store's FS seam
	"engine/convert/convert.go":  1, // an output directory, for fsync
	"engine/hub/fetch.go":        1, // a downloaded file in the cache
	"engine/hub/cache.go":        1, // a cached file being copied
	"cmd/quarry-native/build.go": 2, // the native core's build outputs
}

// ownReads are the os.ReadFile calls of the same kind (quarry's own files,
// /proc); every user-named file is read with ReadRegular (bounded).
var ownReads = map[string]int{
	"engine/hub/cache.go":        1, // a ref file in the download cache
	"engine/hub/hub.go":          1, // the hub token file
	"engine/hf/hftest/folder.go": 2, // test fixtures written by the test itself
	"cmd/quarry/embed.go":        1, // /proc/self/status
	"cmd/quarry/bench.go":        2, // /proc/cpuinfo, /proc/self/status
	"cmd/quarry/benchserve.go":   1, // /proc/PID/stat
	"cmd/quarry-native/gen.go":   2, // generated sources
	"cmd/quarry-native/build.go": 5, // the module's own files
}

// TestUserFilesGoThroughOpenRegular fails when a new os.Open appears in the
// engine or the commands outside ownFiles: use OpenRegular for it (or add it
// to ownFiles with the reason).
func TestUserFilesGoThroughOpenRegular(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, top := range []string{"engine", "cmd"} {
		err := filepath.Walk(filepath.Join(root, top), func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			rel = filepath.ToSlash(rel)
			if n := strings.Count(string(b), "os.Open("); n > ownFiles[rel] {
				t.Errorf("%s: %d os.Open calls, %d allowed: open user-named files with fsx.OpenRegular", rel, n, ownFiles[rel])
			}
			if n := strings.Count(string(b), "os.ReadFile("); n > ownReads[rel] {
				t.Errorf("%s: %d os.ReadFile calls, %d allowed: read user-named files with fsx.ReadRegular", rel, n, ownReads[rel])
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
