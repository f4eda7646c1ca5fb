package gitrepo

// ShortLen is the length of every abbreviated commit hash Rensei shows:
// long enough to stay unique in a large repository's history.
const ShortLen = 12

// Short abbreviates a commit hash to ShortLen characters; "(none)" for none.
func Short(h string) string {
	if h == "" {
		return "(none)"
	}
	if len(h) > ShortLen {
		return h[:ShortLen]
	}
	return h
}
