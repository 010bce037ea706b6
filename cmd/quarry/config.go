package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"

	"github.com/quarry-search/quarry/internal/fsx"
)

// maxConfigBytes bounds a --config file.
const maxConfigBytes = 1 << 20

// configPathKeys are the keys whose values are paths; relative ones are
// resolved against the config file's folder (for NAME=PATH, the PATH).
var configPathKeys = map[string]bool{"index": true, "model": true, "rerank-model": true, "api-key-file": true}

// applyConfig reads the YAML file of --config into c's flags, before the
// flags' own checks run. The file is one mapping whose keys are the
// command's flag names (without "--"); a repeatable flag takes a sequence or,
// for index, model and rerank-model, a mapping of NAME: PATH. A flag given on
// the command line wins over the file. Errors name the file, line and key.
func applyConfig(c *cli.Context) error {
	path := c.String("config")
	if path == "" {
		return nil
	}
	data, err := fsx.ReadRegular(path, "YAML config file", maxConfigBytes)
	if err != nil {
		return markBadInput(fmt.Errorf("--config: %w", err))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return badInput("--config %s: %v", path, err)
	}
	if len(doc.Content) == 0 {
		return nil // an empty file sets nothing
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return badInput("%s:%d: want a mapping of flag names to values (e.g. addr: \":8080\")", path, root.Line)
	}
	flags := map[string]cli.Flag{}
	var names []string
	for _, f := range c.Command.Flags {
		n := f.Names()[0]
		if n != "config" && n != "help" {
			flags[n] = f
			names = append(names, n)
		}
	}
	slices.Sort(names)
	seen := map[string]int{}
	base := filepath.Dir(path)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		at := fmt.Sprintf("%s:%d", path, k.Line)
		key := k.Value
		f, ok := flags[key]
		if !ok || k.Kind != yaml.ScalarNode {
			return badInput("%s: unknown key %q (the keys are quarry serve's flags: %s)", at, key, strings.Join(names, ", "))
		}
		if line, dup := seen[key]; dup {
			return badInput("%s: key %q given twice (first at line %d)", at, key, line)
		}
		seen[key] = k.Line
		if c.IsSet(key) {
			continue // the command line wins
		}
		vals, err := configValues(key, f, v)
		if err != nil {
			return badInput("%s: %s: %v", at, key, err)
		}
		for _, s := range vals {
			if configPathKeys[key] {
				s = resolveConfigPath(base, s, key != "api-key-file")
			}
			if err := c.Set(key, s); err != nil {
				return badInput("%s: %s: %q: %v", at, key, s, err)
			}
		}
		if a, ok := f.(cli.ActionableFlag); ok {
			if err := a.RunAction(c); err != nil {
				return badInput("%s: %v", at, err)
			}
		}
	}
	return nil
}

// configValues are the flag values of one config entry.
func configValues(key string, f cli.Flag, v *yaml.Node) ([]string, error) {
	_, repeatable := f.(*cli.StringSliceFlag)
	switch {
	case v.Kind == yaml.ScalarNode:
		if v.Tag == "!!null" {
			return nil, errors.New("no value")
		}
		return []string{v.Value}, nil
	case v.Kind == yaml.SequenceNode && repeatable:
		out := make([]string, 0, len(v.Content))
		for _, e := range v.Content {
			if e.Kind != yaml.ScalarNode || e.Tag == "!!null" {
				return nil, fmt.Errorf("line %d: want a plain value in the list", e.Line)
			}
			out = append(out, e.Value)
		}
		return out, nil
	case v.Kind == yaml.MappingNode && repeatable && configPathKeys[key]:
		out := make([]string, 0, len(v.Content)/2)
		for i := 0; i+1 < len(v.Content); i += 2 {
			n, p := v.Content[i], v.Content[i+1]
			if n.Kind != yaml.ScalarNode || p.Kind != yaml.ScalarNode || n.Value == "" || p.Value == "" {
				return nil, fmt.Errorf("line %d: want NAME: PATH", n.Line)
			}
			out = append(out, n.Value+"="+p.Value)
		}
		return out, nil
	case repeatable:
		return nil, errors.New("want a value or a list of values")
	}
	return nil, errors.New("want a single value")
}

// resolveConfigPath resolves a relative path (or, when it may be named, the
// PATH of NAME=PATH) against the config file's folder.
func resolveConfigPath(base, s string, mayBeNamed bool) string {
	name, p, named := "", s, false
	if mayBeNamed {
		if n, rest, ok := strings.Cut(s, "="); ok {
			name, p, named = n, rest, true
		}
	}
	if p != "" && !filepath.IsAbs(p) {
		p = filepath.Join(base, p)
	}
	if named {
		return name + "=" + p
	}
	return p
}
