package plan

import (
	"sort"

	"github.com/rensei-dev/rensei/reconcile/change"
)

// imageHolders indexes, per image reference, the hosts that have it (by
// host key) with its ID there.
func imageHolders(have Observed) map[string][]ImageSource {
	out := map[string][]ImageSource{}
	for _, key := range sortedKeys(have) {
		for ref, id := range have[key].Images {
			if id != "" {
				out[ref] = append(out[ref], ImageSource{Ref: ref, ID: id, From: key})
			}
		}
	}
	for _, hs := range out {
		sort.Slice(hs, func(i, j int) bool { return hs[i].From < hs[j].From })
	}
	return out
}

// images adds a step for each image a container to be made needs and the
// host lacks: copied from another host of the deployment that has it (the
// first by name: air-gapped sites work), else pulled from its registry.
func (hp *hostPlanner) images() {
	seen := map[string]bool{}
	for _, s := range hp.out[hp.start:] {
		if s.Kind != change.KindContainer || s.Container == nil || s.Code == change.Blocked ||
			(s.Action != change.Create && s.Action != change.Replace) {
			continue
		}
		ref := s.Container.Image
		id, looked := hp.have.Images[ref]
		if !looked || id != "" || seen[ref] {
			continue
		}
		seen[ref] = true
		src := ImageSource{Ref: ref}
		reason := "missing on this host and on every other host of the deployment: pulled from its registry"
		if hs := hp.holders[ref]; len(hs) > 0 {
			src = hs[0]
			reason = "missing on this host: copied from " + src.From + " (image " + short(src.ID) + ")"
		}
		step := hp.add(change.KindImage, ref, "", change.Create, change.Absent, PhaseImages, reason)
		step.Image = &src
	}
}

// short is an image ID cut to its first 12 hex digits, as docker shows it.
func short(id string) string {
	const prefix = "sha256:"
	if len(id) > len(prefix)+12 && id[:len(prefix)] == prefix {
		return id[len(prefix) : len(prefix)+12]
	}
	return id
}
