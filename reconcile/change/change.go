// Package change is Rensei's one vocabulary for what happens to an object:
// the actions, the kinds of object, the reference that names one, the
// fields that changed, and typed codes that say why. The live plan
// (package plan) and the comparison of two revisions (package compare)
// both speak it, so they mark the same change with the same action.
// Rendering lives in package render; text in this package is for people
// and is never parsed back: decisions read the typed fields.
package change

// Action is what happens to an object.
type Action string

const (
	Create  Action = "create"
	Replace Action = "replace" // removed and made again: its spec changed
	Update  Action = "update"  // corrected in place (a container started, a tunnel fixed, an environment's window moved)
	Delete  Action = "delete"
	// Keep is an object that is no longer wanted but stays: volumes are
	// never deleted by a plan, only by `rensei volumes prune`.
	Keep Action = "keep"
	// Skip is a step that is not done; its reason says why.
	Skip Action = "skip"
)

// Changes reports whether the action changes anything on a host.
func (a Action) Changes() bool { return a != Keep && a != Skip && a != "" }

// Kind is the kind of object a change is about.
type Kind string

const (
	KindEnvironment Kind = "environment"
	KindGroup       Kind = "group"
	KindHost        Kind = "host"
	KindNetwork     Kind = "network"
	KindVolume      Kind = "volume"
	KindTunnel      Kind = "tunnel"
	KindContainer   Kind = "container"
	// KindImage is an image a host lacks, copied from another host.
	KindImage Kind = "image"
)

// Ref names the object a change is about. Host is "site/host" for objects
// on a host; Env and Group are set when the object belongs to them.
type Ref struct {
	Host  string `json:"host,omitempty"`
	Kind  Kind   `json:"kind"`
	Name  string `json:"name"`
	Env   string `json:"env,omitempty"`
	Group string `json:"group,omitempty"`
}

// Field is one changed field. From and To hold short old and new values;
// Detail, when set, describes a change of a list or map in words
// ("+BAR, ~GREETING").
type Field struct {
	Name   string `json:"name"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// String renders the field: "image busybox:1 → busybox:2", "env: +BAR".
func (f Field) String() string {
	switch {
	case f.Detail != "":
		return f.Name + ": " + f.Detail
	case f.From != "" || f.To != "":
		return f.Name + " " + f.Values()
	}
	return f.Name + " changed"
}

// Values renders the old and new values: "busybox:1 → busybox:2".
func (f Field) Values() string { return orNone(f.From) + " → " + orNone(f.To) }

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
