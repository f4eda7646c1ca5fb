package e2e_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestBigDataWorkflow applies examples/bigdata-workflow at a time inside
// its window (--at): the data is staged at site-a (campus), Dask workers
// at site-b (cloud) compute on it, and the job writes the result back to
// the results volume at campus. At a time after the window (--at) every
// container goes and both volumes stay at campus with the result in them.
func TestBigDataWorkflow(t *testing.T) {
	l := newResearchLab(t, "bigdata-workflow", "dask")
	const env = "climate-2027w23"
	const during, after = "2027-06-08T00:00:00Z", "2027-06-14T00:00:01Z"
	start := time.Now()
	l.rensei(0, "apply", "--yes", "--at", during)
	applied := time.Since(start)
	var raw string
	eventually(t, 4*time.Minute, "the result at campus", func() error {
		out, err := l.exec("site-a", env+"_job_0", "cat", "/results/"+env+".json")
		raw = out
		return err
	})
	done := time.Since(start)
	var report daskReport
	if err := json.Unmarshal([]byte(raw), &report); err != nil {
		t.Fatalf("the result: %v\n%s", err, raw)
	}
	report.check(t, "site-a", "site-b")
	figure(t, "bigdata-workflow: apply %s; stage + compute + result written at campus %s after apply started (tasks per site %v)",
		seconds(applied), seconds(done), report.TasksPerSite)

	// The window closes: everything goes, the volumes stay.
	r := l.rensei(0, "apply", "--yes", "--at", after)
	t.Logf("teardown: %s", firstLine(r.stdout, "Applied "))
	for site, docker := range l.docker {
		if out := strings.TrimSpace(must(t, "docker", "-H", docker, "ps", "-aq", "--filter", "label=io.rensei.env="+env)); out != "" {
			t.Errorf("%s still has containers of %s after the window closed: %s", site, env, out)
		}
	}
	vols := must(t, "docker", "-H", l.docker["site-a"], "volume", "ls", "-q", "--filter", "label=io.rensei.env="+env)
	for _, v := range []string{env + "_results", env + "_dataset"} {
		if !strings.Contains(vols, v+"\n") {
			t.Errorf("volume %s is gone from site-a after the window closed: %q", v, vols)
		}
	}
	kept := must(t, "docker", "-H", l.docker["site-a"], "run", "--rm", "--network", "none", "-v", env+"_results:/r:ro",
		"--entrypoint", "cat", "rensei/dask:latest", "/r/"+env+".json")
	if kept != raw {
		t.Errorf("the result kept in the volume differs from what the job wrote")
	}
	list := l.rensei(0, "volumes", "list", "--env", env)
	if !strings.Contains(list.stdout, env+"_results") {
		t.Errorf("rensei volumes list does not show the results volume:\n%s", list.stdout)
	}
}
