// Command debian turns `apt-cache dumpavail` (the package lists of any
// Debian machine, no download) into a JSONL corpus for quarry's demo:
//
//	apt-cache dumpavail | go run ./scripts/demo/debian > packages.jsonl
//
// One document per package name (the first stanza wins when several
// versions are listed): _id = package name, title = name, text = the
// Description, and the fields section, priority, installed_size (KiB),
// version and architecture as metadata.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	seen := map[string]bool{}
	n := 0
	fields := map[string]string{}
	last := ""
	emit := func() {
		defer func() { fields = map[string]string{} }()
		name, desc := fields["Package"], strings.TrimSpace(fields["Description"])
		if name == "" || desc == "" || seen[name] {
			return
		}
		seen[name] = true
		rec := map[string]any{"_id": name, "title": name, "text": desc}
		for k, v := range map[string]string{"section": "Section", "priority": "Priority", "version": "Version", "architecture": "Architecture"} {
			if fields[v] != "" {
				rec[k] = fields[v]
			}
		}
		if s, err := strconv.Atoi(fields["Installed-Size"]); err == nil {
			rec["installed_size"] = s
		}
		b, _ := json.Marshal(rec)
		out.Write(b)
		out.WriteByte('\n')
		n++
	}
	for in.Scan() {
		line := in.Text()
		if line == "" {
			emit()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last != "" {
				fields[last] += "\n" + strings.TrimSpace(line)
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		last = k
		fields[k] = strings.TrimSpace(v)
	}
	emit()
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "debian:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "debian: %d packages\n", n)
}
