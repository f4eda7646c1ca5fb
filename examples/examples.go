// Package examples embeds the example config repositories, so the binary
// can run its default (the quickstart) with no files on disk.
package examples

import (
	"embed"
	"io/fs"
)

//go:embed quickstart
var all embed.FS

// Quickstart is the quickstart config repository, rooted at its top.
func Quickstart() fs.FS {
	sub, err := fs.Sub(all, "quickstart")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}
