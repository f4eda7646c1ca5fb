package reconcile

import (
	"io/fs"

	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/schema"
)

// Desire loads, validates and places one revision of a config repository:
// everything up to the plan that needs no host. A configuration error is
// returned as schema.Problems.
func Desire(fsys fs.FS, load schema.Options, opts place.Options) (*schema.Topology, *place.Desired, error) {
	topo, err := schema.Load(fsys, load)
	if err != nil {
		return nil, nil, err
	}
	want, err := place.Place(topo, opts)
	if err != nil {
		return topo, nil, err
	}
	return topo, want, nil
}
