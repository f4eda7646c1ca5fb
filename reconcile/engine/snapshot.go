package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/reconcile/plan"
)

// Snapshot identifies what a plan was made from: the configuration's
// revision, the desired state placed from it, and the live state it was
// planned against. A saved plan carries one; applying it later is safe
// only while a fresh snapshot equals it (see Snapshot.Changes).
type Snapshot struct {
	Revision RevisionDigest `json:"revision"`
	Desired  DesiredDigest  `json:"desired"`
	Live     LiveDigest     `json:"live"`
}

// RevisionDigest is a revision's commit, or for a directory (or an
// embedded tree) a digest of its content, per file and as a whole.
type RevisionDigest struct {
	Commit string            `json:"commit,omitempty"`
	Tree   string            `json:"tree,omitempty"`
	Files  map[string]string `json:"files,omitempty"`
}

// DesiredDigest is a digest of a desired state as a whole and per host,
// and the state of every environment in it.
type DesiredDigest struct {
	Hash  string            `json:"hash"`
	Hosts map[string]string `json:"hosts"`
	Envs  map[string]string `json:"envs"`
}

// LiveDigest is a digest of what the hosts hold: per host, one digest per
// owned object ("container NAME", "network NAME", …), and of it all.
type LiveDigest struct {
	Hash  string                       `json:"hash"`
	Hosts map[string]map[string]string `json:"hosts"`
}

// SnapshotChange is one difference between two snapshots, for people: Part is
// "revision", "desired" or "live"; Object names what changed ("file
// environments/cs101.jsonnet", "container x", "environment cs101");
// From and To are short old and new values ("" when absent).
type SnapshotChange struct {
	Part   string `json:"part"`
	Host   string `json:"host,omitempty"`
	Object string `json:"object"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
}

// DigestRevision identifies the revision of r.
func DigestRevision(r *Revision) (RevisionDigest, error) {
	if r.Source.Commit != "" {
		return RevisionDigest{Commit: r.Source.Commit}, nil
	}
	files := map[string]string{}
	err := fs.WalkDir(r.Source.FS, ".", func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == ".git":
			return fs.SkipDir
		case !d.Type().IsRegular():
			return nil
		}
		b, err := fs.ReadFile(r.Source.FS, p)
		if err != nil {
			return err
		}
		files[p] = digest(b)
		return nil
	})
	if err != nil {
		return RevisionDigest{}, err
	}
	return RevisionDigest{Tree: digestMap(files), Files: files}, nil
}

// DigestDesired identifies a desired state.
func DigestDesired(want *place.Desired) DesiredDigest {
	d := DesiredDigest{Hosts: map[string]string{}, Envs: map[string]string{}}
	for _, h := range want.Hosts {
		d.Hosts[h.Key] = digestJSON(h)
	}
	for _, e := range want.Environments {
		d.Envs[e.Name] = string(e.State)
	}
	d.Hash = digestMap(d.Hosts)
	return d
}

// hostDown is the one object of a host that could not be observed.
const (
	hostDown    = "host"
	unreachable = "unreachable"
)

// DigestLive identifies what the observed hosts hold. A host that could
// not be observed has the one object "host" = "unreachable". Names held
// by others (foreign networks and volumes) are left out: they are only
// listed when something is missing, and what they block shows in the plan.
func DigestLive(obs plan.Observed) LiveDigest {
	d := LiveDigest{Hosts: map[string]map[string]string{}}
	flat := map[string]string{}
	for key, st := range obs {
		objs := map[string]string{}
		if st.Err != nil {
			objs[hostDown] = unreachable
		} else {
			for _, c := range st.Containers {
				objs["container "+c.Name] = digestJSON(c)
			}
			for _, n := range st.Networks {
				objs["network "+n.Name] = digestJSON(n)
			}
			for _, v := range st.Volumes {
				objs["volume "+v.Name] = digestJSON(v)
			}
			for _, t := range st.Tunnels {
				objs["tunnel "+t.Name] = digestJSON(t)
			}
			if st.NoTunnels {
				objs["tunnels"] = "not observed"
			}
		}
		d.Hosts[key] = objs
		flat[key] = digestMap(objs)
	}
	d.Hash = digestMap(flat)
	return d
}

// Changes lists what differs from s (then) to cur (now): files or the
// commit, hosts whose desired state changed and environments whose state
// did, and live objects that appeared, changed or went. Empty means the
// same. It is sorted by part, host and object.
func (s Snapshot) Changes(cur Snapshot) []SnapshotChange {
	var out []SnapshotChange
	if s.Revision.Commit != cur.Revision.Commit || s.Revision.Tree != cur.Revision.Tree {
		switch {
		case s.Revision.Commit != "" || cur.Revision.Commit != "":
			out = append(out, SnapshotChange{Part: "revision", Object: "commit", From: s.Revision.Commit, To: cur.Revision.Commit})
		default:
			out = append(out, mapChanges("revision", "", "file ", s.Revision.Files, cur.Revision.Files)...)
		}
	}
	if s.Desired.Hash != cur.Desired.Hash {
		out = append(out, mapChanges("desired", "", "environment ", s.Desired.Envs, cur.Desired.Envs)...)
		for _, host := range unionSorted(s.Desired.Hosts, cur.Desired.Hosts) {
			if s.Desired.Hosts[host] != cur.Desired.Hosts[host] {
				out = append(out, SnapshotChange{Part: "desired", Host: host, Object: "desired state of the host"})
			}
		}
	}
	if s.Live.Hash != cur.Live.Hash {
		for _, host := range unionSorted(s.Live.Hosts, cur.Live.Hosts) {
			old, now := s.Live.Hosts[host], cur.Live.Hosts[host]
			if _, down := now[hostDown]; down && len(old) > 0 {
				if _, was := old[hostDown]; !was {
					out = append(out, SnapshotChange{Part: "live", Host: host, Object: "host", To: unreachable})
					continue
				}
			}
			out = append(out, mapChanges("live", host, "", old, now)...)
		}
	}
	if len(out) == 0 && (s.Revision.Commit != cur.Revision.Commit || s.Revision.Tree != cur.Revision.Tree ||
		s.Desired.Hash != cur.Desired.Hash || s.Live.Hash != cur.Live.Hash) {
		out = append(out, SnapshotChange{Part: "snapshot", Object: "digest"})
	}
	return out
}

// mapChanges lists the keys whose values differ; values that are digests
// are left out of the change.
func mapChanges(part, host, prefix string, old, cur map[string]string) []SnapshotChange {
	var out []SnapshotChange
	for _, k := range unionSorted(old, cur) {
		o, inOld := old[k]
		c, inCur := cur[k]
		if inOld && inCur && o == c {
			continue
		}
		ch := SnapshotChange{Part: part, Host: host, Object: prefix + k}
		if !isDigest(o) {
			ch.From = o
		}
		if !isDigest(c) {
			ch.To = c
		}
		switch {
		case !inOld:
			ch.From = "(absent)"
		case !inCur:
			ch.To = "(absent)"
		}
		out = append(out, ch)
	}
	return out
}

func unionSorted[V any](a, b map[string]V) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// digestLen is the hex length of an object's digest.
const digestLen = 16

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])[:digestLen]
}

func isDigest(s string) bool { return strings.HasPrefix(s, "sha256:") }

// digestJSON digests v's JSON (maps are encoded in key order).
func digestJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only unsupported values fail, and every value here is plain data.
		panic(errors.Join(errors.New("engine: digest"), err))
	}
	return digest(b)
}

// digestMap digests a map as a whole, in key order.
func digestMap(m map[string]string) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(m)) {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(m[k]))
		h.Write([]byte{0})
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
