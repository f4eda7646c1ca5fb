package fakeengine

import (
	"regexp"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// matcher applies one filter key the way filters.Args.Match does (a value
// matches exactly or as a regular expression), with the expressions
// compiled once per request rather than once per object.
type matcher struct {
	active bool
	exact  map[string]bool
	res    []*regexp.Regexp
}

// newMatcher compiles the values of key; invalid expressions only match
// exactly, as in dockerd.
func newMatcher(f filters.Args, key string) matcher {
	vals := f.Get(key)
	m := matcher{active: len(vals) > 0, exact: map[string]bool{}}
	for _, v := range vals {
		m.exact[v] = true
		if re, err := regexp.Compile(v); err == nil {
			m.res = append(m.res, re)
		}
	}
	return m
}

// match reports whether s passes; an absent filter passes everything.
func (m matcher) match(s string) bool {
	if !m.active || m.exact[s] {
		return true
	}
	for _, re := range m.res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// eventIncluded is dockerd's event filter (daemon/events.Filter.Include):
// type, event, scope, per-type name or ID (fuzzy), image, and labels
// matched against the event's attributes.
func eventIncluded(f filters.Args, m events.Message) bool {
	if f.Len() == 0 {
		return true
	}
	fuzzy := func(t events.Type) bool {
		return f.FuzzyMatch(string(t), m.Actor.ID) || f.FuzzyMatch(string(t), m.Actor.Attributes["name"])
	}
	return f.ExactMatch("event", string(m.Action)) &&
		f.ExactMatch("type", string(m.Type)) &&
		(!f.Contains("scope") || f.ExactMatch("scope", m.Scope)) &&
		fuzzy(events.DaemonEventType) && fuzzy(events.ContainerEventType) && fuzzy(events.PluginEventType) &&
		fuzzy(events.VolumeEventType) && fuzzy(events.NetworkEventType) && fuzzy(events.NodeEventType) &&
		fuzzy(events.ServiceEventType) && fuzzy(events.SecretEventType) && fuzzy(events.ConfigEventType) &&
		eventImageMatch(f, m) &&
		(!f.Contains("label") || f.MatchKVList("label", m.Actor.Attributes))
}

// eventImageMatch is the image part of dockerd's event filter.
func eventImageMatch(f filters.Args, m events.Message) bool {
	nameAttr := "image"
	if m.Type == events.ImageEventType {
		nameAttr = "name"
	}
	name := m.Actor.Attributes[nameAttr]
	return f.ExactMatch("image", m.Actor.ID) || f.ExactMatch("image", name) ||
		f.ExactMatch("image", stripTag(m.Actor.ID)) || f.ExactMatch("image", stripTag(name))
}

func stripTag(image string) string {
	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	return reference.FamiliarName(ref)
}
