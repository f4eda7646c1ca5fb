package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set by the release build with -ldflags "-X main.version=…"
// and then wins over what the build information says.
var version string

func newVersion(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Long: `Version prints Rensei's version, the platform and the Go release it was
built with. The version is the release's (set when the release was built),
else the module version "go install github.com/rensei-dev/rensei/cmd/rensei@vX"
recorded, else "devel" with the commit it was built from ("-dirty" when the
work tree had changes).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(g.stdout, versionLine())
			return err
		},
	}
}

// versionLine is what version and --version print.
func versionLine() string {
	return fmt.Sprintf("rensei %s %s/%s %s", currentVersion(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// currentVersion is this binary's version (see resolveVersion).
func currentVersion() string {
	bi, _ := debug.ReadBuildInfo()
	return resolveVersion(version, bi)
}

// resolveVersion returns the version of this binary: the one set at link
// time when there is one; else the main module's version when the Go
// command recorded one (go install …@v1.2.3, or since Go 1.24 a
// pseudo-version with "+dirty" for go build in a work tree); else "devel"
// followed by the short commit and "-dirty" when the work tree had
// changes (vcs.revision and vcs.modified), as far as they are known.
func resolveVersion(linked string, bi *debug.BuildInfo) string {
	if linked != "" {
		return linked
	}
	if bi == nil {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified == "true" {
		rev += "-dirty"
	}
	return "devel-" + rev
}
