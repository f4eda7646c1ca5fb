package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func init() { hiddenCommands = append(hiddenCommands, newMan) }

// newMan is the hidden "__man DIR" command: one roff man page per command
// of the tree (rensei.1, rensei-plan.1, rensei-lab-up.1, …) into DIR.
func newMan(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:    "__man DIR",
		Short:  "Write the man pages of every command into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true
			// The date comes from the commit (SOURCE_DATE_EPOCH, as for
			// reproducible builds), so pages of one release are identical.
			date := time.Unix(0, 0).UTC()
			if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
				var sec int64
				if _, err := fmt.Sscan(s, &sec); err == nil {
					date = time.Unix(sec, 0).UTC()
				}
			}
			header := &doc.GenManHeader{Title: "RENSEI", Section: "1", Source: "Rensei " + currentVersion(), Manual: "Rensei Manual", Date: &date}
			if err := doc.GenManTree(root, header, dir); err != nil {
				return fmt.Errorf("man pages in %s: %w", dir, err)
			}
			fmt.Fprintln(g.stdout, dir)
			return nil
		},
	}
}
