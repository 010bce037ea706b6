package nativeapi

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

func read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func header(t *testing.T) []string {
	t.Helper()
	fns, err := ParseHeader(read(t, "native/include/quarry.h"))
	if err != nil {
		t.Fatal(err)
	}
	return fns
}

func sorted(a []string) []string {
	a = append([]string(nil), a...)
	sort.Strings(a)
	return a
}

func TestParseHeader(t *testing.T) {
	src := `/* quarry_commented(void); */
#define QUARRY_X(a) quarry_macro(a)
typedef struct quarry_model quarry_model;
// quarry_line_comment(int);
int quarry_one(const quarry_model *m, char *err,
               size_t err_len);
const char *quarry_two (void);
`
	got, err := ParseHeader(src)
	if err != nil || !reflect.DeepEqual(got, []string{"quarry_one", "quarry_two"}) {
		t.Errorf("ParseHeader = %v, %v", got, err)
	}
	if _, err := ParseHeader("int quarry_a(void);\nint quarry_a(void);\n"); err == nil {
		t.Error("a function declared twice is accepted")
	}
	if _, err := ParseHeader("#define QUARRY_OK 0\n"); err == nil {
		t.Error("a header without functions is accepted")
	}
	// The real header: the functions the bindings call are among them.
	fns := header(t)
	for _, f := range []string{"quarry_model_load", "quarry_embed", "quarry_topk", "quarry_system_info"} {
		if !strings.Contains(" "+strings.Join(fns, " ")+" ", " "+f+" ") {
			t.Errorf("quarry.h: %s not found in %v", f, fns)
		}
	}
}

// bindings declares every function of quarry.h weak, and checks every one
// in quarry_linked: a function added to the header without them would be a
// strong reference (a link error without the libraries) or go unchecked.
func TestBindingsWeakList(t *testing.T) {
	want := sorted(header(t))
	src := read(t, "bindings/bindings.go")
	var weak []string
	for _, m := range regexp.MustCompile(`(?m)^#pragma weak (\w+)$`).FindAllStringSubmatch(src, -1) {
		weak = append(weak, m[1])
	}
	if got := sorted(weak); !reflect.DeepEqual(got, want) {
		t.Errorf("bindings.go #pragma weak:\n got %v\nwant %v", got, want)
	}
	var checked []string
	for _, m := range regexp.MustCompile(`\(void \*\)(quarry_\w+)`).FindAllStringSubmatch(src, -1) {
		checked = append(checked, m[1])
	}
	if got := sorted(checked); !reflect.DeepEqual(got, want) {
		t.Errorf("bindings.go quarry_linked checks:\n got %v\nwant %v", got, want)
	}
}

// internal/nativelink holds the anchor of every function of quarry.h and the
// libraries in the order LDFlags gives (cmd/quarry-native writes the same
// into an application).
func TestNativelinkAnchor(t *testing.T) {
	src := read(t, "internal/nativelink/nativelink.go")
	if a := Anchor(header(t)); !strings.Contains(src, a) {
		t.Errorf("internal/nativelink/nativelink.go does not hold the anchor of quarry.h; put this in its preamble:\n%s", a)
	}
	if want := "#cgo LDFLAGS: " + LDFlags("${SRCDIR}/../../build/lib") + "\n"; !strings.Contains(src, want) {
		t.Errorf("internal/nativelink/nativelink.go lacks %q", want)
	}
}

func TestAnchor(t *testing.T) {
	a := Anchor([]string{"quarry_b", "quarry_a"})
	for _, want := range []string{"void quarry_a(void);\n", "void quarry_b(void);\n", "\tquarry_a,\n\tquarry_b,\n};\n", "__attribute__((used))"} {
		if !strings.Contains(a, want) {
			t.Errorf("Anchor lacks %q:\n%s", want, a)
		}
	}
	if strings.Contains(a, "*/") {
		t.Error("Anchor holds */, which would end a cgo preamble comment")
	}
}

func TestLDFlags(t *testing.T) {
	want := "-L/x/lib -Wl,--start-group -lquarry -lllama -lggml -lggml-cpu -lggml-base -Wl,--end-group -lstdc++ -lm -lpthread -ldl"
	if got := LDFlags("/x/lib"); got != want {
		t.Errorf("LDFlags = %q, want %q", got, want)
	}
}
