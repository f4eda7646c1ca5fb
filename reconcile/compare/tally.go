package compare

import (
	"strconv"
	"strings"
)

// String renders every non-zero tally: "environments +1; containers +31 ~30 -3; volumes +30, 3 kept".
func (c Counts) String() string {
	s := tallies([]namedTally{{"environments", c.Environments}, {"groups", c.Groups}, {"hosts", c.Hosts},
		{"containers", c.Containers}, {"networks", c.Networks}, {"tunnels", c.Tunnels}, {"volumes", c.Volumes}})
	if s == "" {
		return "no differences"
	}
	return s
}

// Short renders the tallies of objects on hosts only (no environments or
// groups): "containers +1 ~30 -2; volumes +1, 2 kept".
func (c Counts) Short() string {
	return tallies([]namedTally{{"hosts", c.Hosts}, {"containers", c.Containers}, {"networks", c.Networks},
		{"tunnels", c.Tunnels}, {"volumes", c.Volumes}})
}

type namedTally struct {
	noun string
	t    Tally
}

func tallies(ts []namedTally) string {
	var parts []string
	for _, k := range ts {
		if !k.t.Zero() {
			parts = append(parts, k.noun+" "+k.t.String())
		}
	}
	return strings.Join(parts, "; ")
}

// String renders a tally as signed counts: "+1 ±30 ~1 -2, 3 kept".
func (t Tally) String() string {
	var s []string
	if t.Create > 0 {
		s = append(s, "+"+strconv.Itoa(t.Create))
	}
	if t.Replace > 0 {
		s = append(s, "±"+strconv.Itoa(t.Replace))
	}
	if t.Update > 0 {
		s = append(s, "~"+strconv.Itoa(t.Update))
	}
	if t.Delete > 0 {
		s = append(s, "-"+strconv.Itoa(t.Delete))
	}
	out := strings.Join(s, " ")
	if t.Keep > 0 {
		if out != "" {
			out += ", "
		}
		out += strconv.Itoa(t.Keep) + " kept"
	}
	return out
}
