package e2e_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// daskReport is the JSON rensei-dask-aggregate prints (images/dask).
type daskReport struct {
	OK       bool           `json:"ok"`
	Result   map[string]any `json:"result"`
	Expected map[string]any `json:"expected"`
	Workers  map[string]struct {
		Address   string             `json:"address"`
		Site      string             `json:"site"`
		Resources map[string]float64 `json:"resources"`
	} `json:"workers"`
	Tasks          map[string]string `json:"tasks"`
	TasksPerWorker map[string]int    `json:"tasks_per_worker"`
	TasksPerSite   map[string]int    `json:"tasks_per_site"`
	Elapsed        float64           `json:"elapsed_s"`
}

// The data set of the examples: 16 files × 100,000 rows holding 0 … T-1,
// T = 1,600,000.
const (
	daskSum   = "1279999200000"
	daskSumSq = "1365332053333600000"
)

// check wants the exact result, every load task at the data site (the
// only worker holding the data) and every stats task at the compute site.
func (r daskReport) check(t *testing.T, dataSite, computeSite string) {
	t.Helper()
	if !r.OK || fmt.Sprint(r.Result["sum"]) != daskSum || fmt.Sprint(r.Result["sumsq"]) != daskSumSq {
		t.Fatalf("result %v, want sum %s and sumsq %s (expected %v)", r.Result, daskSum, daskSumSq, r.Expected)
	}
	loads, stats := 0, 0
	for task, worker := range r.Tasks {
		site := r.Workers[worker].Site
		switch {
		case strings.HasPrefix(task, "load-"):
			loads++
			if site != dataSite {
				t.Errorf("%s ran on %s at %s, want the data site %s", task, worker, site, dataSite)
			}
		case strings.HasPrefix(task, "stats-"):
			stats++
			if site != computeSite {
				t.Errorf("%s ran on %s at %s, want the compute site %s", task, worker, site, computeSite)
			}
		}
	}
	if loads != 16 || stats != 16 {
		t.Errorf("%d load and %d stats tasks recorded, want 16 each: %v", loads, stats, r.Tasks)
	}
	if r.TasksPerSite[dataSite] == 0 || r.TasksPerSite[computeSite] == 0 {
		t.Errorf("tasks per site %v: want work at both %s and %s", r.TasksPerSite, dataSite, computeSite)
	}
}

// TestDataAnalysis applies examples/data-analysis: the data set staged in
// a volume at site-a (campus), Dask workers at site-b (cloud). A client
// computes the exact sum and sum of squares of the 1.6 million numbers;
// the scheduler's task stream shows every file loaded by the worker at
// site-a and summed by the workers at site-b, which never see the volume.
func TestDataAnalysis(t *testing.T) {
	l := newResearchLab(t, "data-analysis", "dask")
	start := time.Now()
	l.rensei(0, "apply", "--yes")
	applied := time.Since(start)
	var report daskReport
	var raw string
	eventually(t, 3*time.Minute, "the first computation", func() error {
		out, err := stdout("docker", "-H", l.docker["site-b"], "exec", "-u", "dask", "analysis_scheduler_0",
			"rensei-dask-aggregate", "--mode", "pinned", "--min-workers", "3", "--timeout", "30")
		if err != nil {
			return err
		}
		raw = out
		return json.Unmarshal([]byte(out), &report)
	})
	first := time.Since(start)
	t.Logf("client report:\n%s", raw)
	report.check(t, "site-a", "site-b")
	figure(t, "data-analysis: apply %s; first computation (exact sum over 16 files, loaded at site-a, summed at site-b) %s after apply started; tasks per worker %v, per site %v; the computation itself %.2f s",
		seconds(applied), seconds(first), report.TasksPerWorker, report.TasksPerSite, report.Elapsed)
	for _, w := range []string{"worker-site-b-0", "worker-site-b-1"} {
		if report.TasksPerWorker[w] == 0 {
			t.Errorf("%s ran no task: %v", w, report.TasksPerWorker)
		}
	}

	// The data never lands at the compute site: its workers mount nothing
	// at /data, the DATA worker at campus has the files.
	if out := l.mustExec("site-b", "analysis_worker-site-b_0", "ls", "-A", "/data"); strings.TrimSpace(out) != "" {
		t.Errorf("a compute worker has files in /data: %s", out)
	}
	if out := l.mustExec("site-a", "analysis_data_0", "ls", "/data"); !strings.Contains(out, "data-015.npy") || !strings.Contains(out, "manifest.json") {
		t.Errorf("the DATA worker's /data: %s", out)
	}
	if _, err := l.exec("site-a", "analysis_data_0", "touch", "/data/x"); err == nil {
		t.Error("the DATA worker can write the data set")
	}
	mustRensei(t, 0, "plan", "--detailed-exitcode", "--secrets-dir", l.secrets, l.repo.Dir)
}
