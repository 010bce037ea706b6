package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/quarry-search/quarry/engine"
)

// checkCommand is `quarry check DIR`: engine.Check, every byte of every
// file the current generation references and the manifest's
// cross-references; exit status of corrupt data when damage is found.
func checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "verify every file and cross-reference of an index (checksums, sizes, ordinal ranges)",
		ArgsUsage: "DIR",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "repair", Usage: "when no damage is found, remove leftovers (temporary files, orphan files, manifests older than the previous one); referenced files are never touched"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
		},
		Action: func(c *cli.Context) error {
			dir := c.Args().First()
			if dir == "" || c.Args().Len() > 1 {
				return badInput("check takes one index directory")
			}
			rep, err := engine.Check(dir, engine.CheckOptions{Repair: c.Bool("repair")})
			if rep == nil {
				return err
			}
			w := output(c)
			if c.Bool("json") {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if jerr := enc.Encode(rep); jerr != nil {
					return jerr
				}
				return err
			}
			fmt.Fprintf(w, "index %s, generation %d: %d file(s) checked\n", rep.Dir, rep.Generation, len(rep.Files))
			for _, p := range rep.Problems {
				fmt.Fprintf(w, "DAMAGED %s: %s: %s\n", p.File, p.Where, p.Detail)
			}
			removed := map[string]bool{}
			for _, n := range rep.Removed {
				removed[n] = true
			}
			for _, l := range rep.Leftovers {
				if removed[l.Name] {
					fmt.Fprintf(w, "removed %s (%s)\n", l.Name, l.What)
				} else {
					fmt.Fprintf(w, "leftover %s (%s; --repair removes it)\n", l.Name, l.What)
				}
			}
			for _, n := range rep.Unknown {
				fmt.Fprintf(w, "unknown %s (not an index file: left alone)\n", n)
			}
			if rep.OK() {
				fmt.Fprintln(w, "ok")
			} else {
				fmt.Fprintf(w, "%d problem(s)\n", len(rep.Problems))
			}
			return err
		},
	}
}
