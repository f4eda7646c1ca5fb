package schema

import "regexp"

// Access says how the members of an environment reach their instances:
// `rensei access` lists, per instance of Group, the URL and the token with
// every reference filled in (the token's secret read on the machine that
// runs it). Templates set it; the course template's is the notebook URL at
// the front door and the student's notebook token.
type Access struct {
	// Group whose instances are listed (the members' group).
	Group string `json:"group"`
	// URL and Token may hold placement references (${rensei:instance},
	// ${rensei:publish:…}) and secret references.
	URL   string `json:"url"`
	Token string `json:"token,omitempty"`
}

// PlacementRef matches a reference that placement fills in, in environment
// values, file contents and access URLs and tokens:
//
//	${rensei:env}, ${rensei:group}, ${rensei:instance}, ${rensei:site}, ${rensei:host}
//	    the instance's own names and where it runs
//	${rensei:address:GROUP/INSTANCE}          the static address (Attachment.Static
//	${rensei:address:GROUP/INSTANCE/NETWORK}  or Address) of an instance of this environment
//	${rensei:publish:GROUP/INSTANCE:PORT}     "address:port" where that instance's
//	                                          container PORT is published on its host
//
// Secret references are filled in later, at apply; their context may
// itself hold placement references (a token per instance).
var PlacementRef = regexp.MustCompile(`\$\{rensei:(env|group|instance|site|host|address:([a-z0-9][a-z0-9-]*)/([a-z0-9][a-z0-9-]*)(?:/([a-z0-9][a-z0-9-]*))?|publish:([a-z0-9][a-z0-9-]*)/([a-z0-9][a-z0-9-]*):([0-9]{1,5}))\}`)
