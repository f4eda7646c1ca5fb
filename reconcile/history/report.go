package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Report is one host's drift report as committed to the status branch
// (reports/<site>/<host>.json). Fields the file lacks stay empty; a file
// that is not a report at all is kept with Invalid saying why.
type Report struct {
	StatusCommit string `json:"statusCommit"`
	Message      string `json:"message"`
	Path         string `json:"path"`
	Site         string `json:"site"`
	Host         string `json:"host"`
	// Commit is the config commit the host was converged to.
	Commit    string   `json:"commit,omitempty"`
	Converged *bool    `json:"converged,omitempty"`
	Drift     []string `json:"drift,omitempty"`
	Applied   []string `json:"applied,omitempty"`
	Failed    []string `json:"failed,omitempty"`
	Error     string   `json:"error,omitempty"`
	// Refused says which config commit the daemon would not apply, and why.
	Refused string `json:"refused,omitempty"`
	Invalid string `json:"invalid,omitempty"`

	raw any // the decoded file, for environment matching
}

// readReports reads every version of every report on the status branch,
// one entry per report file a status commit added or changed. found is
// false when the branch does not exist.
func readReports(repo *git.Repository, branch string) (entries []Entry, found bool, err error) {
	tip, err := statusTip(repo, branch)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("status branch %s: %w", branch, err)
	}
	iter, err := repo.Log(&git.LogOptions{From: tip, Order: git.LogOrderCommitterTime})
	if err != nil {
		return nil, true, fmt.Errorf("status branch %s: %w", branch, err)
	}
	err = iter.ForEach(func(c *object.Commit) error {
		es, err := commitReports(c)
		if err != nil {
			return fmt.Errorf("status branch %s: commit %s: %w", branch, c.Hash.String()[:7], err)
		}
		entries = append(entries, es...)
		return nil
	})
	return entries, true, err
}

// statusTip resolves the status branch: local, then origin's.
func statusTip(repo *git.Repository, branch string) (plumbing.Hash, error) {
	for _, name := range []string{"refs/heads/" + branch, "refs/remotes/origin/" + branch} {
		ref, err := repo.Reference(plumbing.ReferenceName(name), true)
		if err == nil {
			return ref.Hash(), nil
		}
		if !errors.Is(err, plumbing.ErrReferenceNotFound) {
			return plumbing.ZeroHash, err
		}
	}
	return plumbing.ZeroHash, plumbing.ErrReferenceNotFound
}

// isReportPath matches reports/<site>/<host>.json.
func isReportPath(p string) bool {
	parts := strings.Split(p, "/")
	return len(parts) == 3 && parts[0] == "reports" && strings.HasSuffix(parts[2], ".json")
}

// commitReports returns the reports a status commit added or changed.
func commitReports(c *object.Commit) ([]Entry, error) {
	tree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	var parentTree *object.Tree
	if c.NumParents() > 0 {
		p, err := c.Parent(0)
		if err != nil {
			return nil, err
		}
		if parentTree, err = p.Tree(); err != nil {
			return nil, err
		}
	}
	changes, err := object.DiffTree(parentTree, tree)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, ch := range changes {
		name := ch.To.Name
		if name == "" || !isReportPath(name) {
			continue // deleted, or not a report
		}
		f, err := tree.File(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		content, err := f.Contents()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		r, when := parseReport(name, []byte(content))
		r.StatusCommit = c.Hash.String()
		r.Message = strings.TrimRight(c.Message, "\n")
		if when.IsZero() {
			when = c.Committer.When
		}
		out = append(out, Entry{Time: when, Kind: "report", Report: r})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Report.Path < out[j].Report.Path })
	return out, nil
}

// parseReport reads a report file defensively: every field is optional
// and may have an unexpected type; list items may be strings or objects.
func parseReport(p string, data []byte) (*Report, time.Time) {
	site := path.Base(path.Dir(p))
	r := &Report{Path: p, Site: site, Host: site + "/" + strings.TrimSuffix(path.Base(p), ".json")}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		r.Invalid = "not JSON: " + err.Error()
		return r, time.Time{}
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		r.Invalid = "not a JSON object"
		return r, time.Time{}
	}
	r.raw = raw
	if s, ok := obj["site"].(string); ok && s != "" {
		r.Site = s
	}
	if h, ok := obj["host"].(string); ok && h != "" {
		if strings.Contains(h, "/") {
			r.Host = h
		} else {
			r.Host = r.Site + "/" + h
		}
	}
	r.Commit, _ = obj["commit"].(string)
	if c, ok := obj["converged"].(bool); ok {
		r.Converged = &c
	}
	r.Drift = items(obj["drift"])
	r.Applied = items(obj["applied"])
	r.Failed = items(obj["failed"])
	switch x := obj["refused"].(type) {
	case nil:
	case map[string]any:
		c, _ := x["commit"].(string)
		why, _ := x["reason"].(string)
		r.Refused = strings.TrimSpace("commit " + short(c) + ": " + why)
		if held, _ := x["held"].(bool); held {
			r.Refused += " (held)"
		}
	default:
		r.Refused = compact(x)
	}
	switch e := obj["error"].(type) {
	case nil:
	case string:
		r.Error = e
	default:
		r.Error = compact(e)
	}
	var when time.Time
	if s, ok := obj["time"].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			when = t
		} else {
			r.Invalid = fmt.Sprintf("time %q: not RFC 3339; the status commit's time is used", s)
		}
	}
	return r, when
}

// items renders a list of drift or applied entries, one line each.
func items(v any) []string {
	switch l := v.(type) {
	case nil:
		return nil
	case []any:
		out := make([]string, 0, len(l))
		for _, x := range l {
			out = append(out, item(x))
		}
		return out
	default:
		return []string{item(v)}
	}
}

// item renders one entry: a plan step ({action, kind, name, reason, host})
// as "action kind name: reason", a string as it is, anything else as JSON.
func item(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		var head []string
		for _, k := range []string{"action", "kind", "name"} {
			if s, ok := x[k].(string); ok && s != "" {
				head = append(head, s)
			}
		}
		if len(head) == 0 {
			return compact(x)
		}
		s := strings.Join(head, " ")
		for _, k := range []string{"reason", "error", "message"} {
			if r, ok := x[k].(string); ok && r != "" {
				s += ": " + r
			}
		}
		return s
	}
	return compact(v)
}

func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	const max = 200
	if len(b) > max {
		return string(b[:max-1]) + "…"
	}
	return string(b)
}

// mentions reports whether the report concerns the environment: an entry
// with "env": name, or a name of its objects (<env>_..., <env>/...).
func (r *Report) mentions(env string) bool {
	return mentions(r.raw, env)
}

func mentions(v any, env string) bool {
	switch x := v.(type) {
	case string:
		for _, tok := range strings.FieldsFunc(x, func(r rune) bool {
			return r == ' ' || r == ':' || r == ',' || r == '/' || r == '"' || r == '(' || r == ')' || r == '=' || r == ';'
		}) {
			if tok == env || strings.HasPrefix(tok, env+"_") {
				return true
			}
		}
	case []any:
		for _, y := range x {
			if mentions(y, env) {
				return true
			}
		}
	case map[string]any:
		for k, y := range x {
			if k == "host" || k == "commit" || k == "time" {
				continue // host names and hashes are not environment names
			}
			if mentions(y, env) {
				return true
			}
		}
	}
	return false
}
