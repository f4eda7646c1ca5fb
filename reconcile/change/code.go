package change

// Code says why a change is made, as data: callers decide on it, never on
// the words of a reason. The words are for people.
type Code string

const (
	// Absent: the object is wanted and not there.
	Absent Code = "absent"
	// SpecChanged: the object's spec differs from what is live, or from the
	// base revision's.
	SpecChanged Code = "spec-changed"
	// Drifted: a live object differs from its spec in what can be corrected
	// in place (a stopped container, a detached tunnel).
	Drifted Code = "drifted"
	// Moved: an instance moves to another host; the change on the old host
	// says where to, the one on the new host where from.
	Moved Code = "moved"
	// InTheWay: a live object is removed first because it holds what a
	// wanted one needs (a subnet, a bridge, an address, a host port, a
	// network being replaced).
	InTheWay Code = "in-the-way"
	// Removed: the object's environment, group or member left the
	// configuration, or it is no longer placed on this host.
	Removed Code = "removed"
	// WindowClosed and WindowNotOpen: the environment's active window ended,
	// or has not opened yet.
	WindowClosed  Code = "window-closed"
	WindowNotOpen Code = "window-not-open"
	// Kept: no longer wanted, kept with its data.
	Kept Code = "kept"
	// Unmanaged: the host's objects of this kind are not managed here (no
	// netlink access for tunnels).
	Unmanaged Code = "unmanaged"
	// Blocked: the step cannot be done safely (an object it needs is not
	// this deployment's); nothing is changed.
	Blocked Code = "blocked"
)
