package cli_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// downSite is a second site whose only host's engine does not exist.
const downSite = `local r = import 'rensei.libsonnet';

r.site('far', [r.host('docker', docker='unix:///nonexistent.sock')])
`

// remoteGroup is a group placed on the down site.
const remoteGroup = `    r.group('remote', 'rensei/busybox:latest') + {
      command: ['sleep', 'infinity'],
      placement: { sites: ['far'] },
    },
`

// TestSiteDown adds a site whose engine cannot be reached, with a group
// placed there: apply reports that host unreachable and fails, and still
// converges the reachable host.
func TestSiteDown(t *testing.T) {
	t.Parallel()
	cli := engine(t)
	r := newRepo(t, cli)
	exclusive(t, r)
	r.write("sites/far.jsonnet", downSite)
	h := hello{Name: r.env, Subnet: freeSubnet(t, cli), Local: true, Extra: remoteGroup}
	r.writeHello(h)

	res := r.rensei("apply", "--yes", r.dir)
	wantExit(t, res, 1)
	wantContains(t, "apply error", res.stderr, "unreachable", "far/docker")
	wantContains(t, "apply plan", res.stdout, "far/docker: unreachable, not planned: Cannot connect to the Docker daemon at")
	for _, name := range []string{r.container("web", "0"), r.container("web", "1"), r.container("shell", "0")} {
		mustRun(t, cli, name)
	}
	if _, ok := inspect(t, cli, r.container("remote", "0")); ok {
		t.Errorf("%s was created on the engine of site local, not on site far", r.container("remote", "0"))
	}

	// A plan that could not observe a host fails, and still shows the rest.
	res = r.rensei("plan", "-o", "json", r.dir)
	wantExit(t, res, 1)
	wantContains(t, "plan error", res.stderr, "unreachable", "far/docker")
	p := parsePlan(t, res.stdout)
	if got := p.stepsOf(r.env); len(got) > 0 {
		t.Errorf("the reachable host did not converge: %v", got)
	}
	if len(p.Unreachable) != 1 || p.Unreachable[0].Host != "far/docker" || !strings.Contains(p.Unreachable[0].Error, "Cannot connect") {
		t.Errorf("plan does not report far/docker unreachable with its cause: %+v", p.Unreachable)
	}
}

// TestSiteDownStillChecksConvergence: with one host down, apply must still
// check that the others converged before saying so. A container that exits
// at once (restart "no") cannot converge; the web containers it starts
// before (--parallel 1, steps in name order) give it ample time to exit
// before apply's second plan.
func TestSiteDownStillChecksConvergence(t *testing.T) {
	t.Parallel()
	cli := engine(t)
	r := newRepo(t, cli)
	exclusive(t, r)
	r.write("sites/far.jsonnet", downSite)
	h := hello{Name: r.env, Subnet: freeSubnet(t, cli), Local: true, NoShell: true, Extra: remoteGroup + `    r.group('aonce', 'rensei/busybox:latest') + {
      command: ['true'],
      restart: 'no',
      placement: { sites: ['local'] },
    },
`}
	r.writeHello(h)

	res := r.rensei("apply", "--yes", "--parallel", "1", r.dir)
	wantExit(t, res, 1)
	wantContains(t, "apply error", res.stderr, "far/docker")

	once := r.container("aonce", "0")
	c, ok := inspect(t, cli, once)
	if !ok || c.State.Running {
		t.Fatalf("%s: want an exited container (found %v, running %v)", once, ok, c.State != nil && c.State.Running)
	}
	plan := r.rensei("plan", "-o", "json", r.dir)
	if got, want := parsePlan(t, plan.stdout).stepsOf(r.env), []string{"update container " + once}; !slices.Equal(got, want) {
		t.Fatalf("plan after apply: %v, want %v: the local host is not converged", got, want)
	}
	if strings.Contains(res.out(), "everything else converged") || !strings.Contains(strings.ToLower(res.out()), "not converged") {
		t.Errorf("apply says the reachable hosts converged although %s is stopped and a second plan wants to start it:\n%s", once, res)
	}
}

// TestHosts probes every host: the local engine answers with its version,
// the down site is reported with the reason, and the command exits 1.
func TestHosts(t *testing.T) {
	t.Parallel()
	cli := engine(t)
	r := newRepo(t, cli)
	r.write("sites/far.jsonnet", downSite)
	r.writeHello(hello{Name: r.env, Subnet: freeSubnet(t, cli), Local: true})

	res := r.rensei("hosts", r.dir)
	wantExit(t, res, 1)
	wantContains(t, "hosts error", res.stderr, "unreachable: far/docker")
	wantContains(t, "hosts table", res.stdout, "HOST", "local/docker", "far/docker", "nonexistent.sock")

	res = r.rensei("hosts", "-o", "json", r.dir)
	wantExit(t, res, 1)
	var rows []struct {
		Host   string `json:"host"`
		Status struct {
			Reachable     bool   `json:"reachable"`
			DockerVersion string `json:"dockerVersion"`
			Error         string `json:"error"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &rows); err != nil {
		t.Fatalf("hosts -o json: %v\n%s", err, res.stdout)
	}
	if len(rows) != 2 || rows[0].Host != "far/docker" || rows[1].Host != "local/docker" {
		t.Fatalf("hosts: %+v", rows)
	}
	if rows[0].Status.Reachable || rows[0].Status.Error == "" {
		t.Errorf("far/docker: %+v, want unreachable with a reason", rows[0].Status)
	}
	if !rows[1].Status.Reachable || rows[1].Status.DockerVersion == "" {
		t.Errorf("local/docker: %+v, want reachable with a version", rows[1].Status)
	}
}
