package examples_test

import (
	"strings"
	"testing"
	"time"
)

// TestBackupSiteSwitchOver: the one-line change of the active site moves
// the service and the standby between the sites, and nothing else: no
// volume is created or deleted (each site already has the data volume,
// the standby's copy becoming the service's data) and the overlay stays.
func TestBackupSiteSwitchOver(t *testing.T) {
	now := time.Date(2027, 5, 1, 0, 0, 0, 0, time.UTC)
	fsys := exampleFS(t, "backup-site")
	_, want := desire(t, fsys, now)
	if _, host := container(want, "web_service_0"); host != "site-a/docker" {
		t.Fatalf("service on %q, want site-a/docker", host)
	}
	w := newWorld(want)
	w.converge(t, want)

	edit(t, fsys, "environments/web.jsonnet", "local active = 'site-a';", "local active = 'site-b';")
	_, next := desire(t, fsys, now)
	p := w.plan(next)
	got := []string{}
	for _, s := range p.Steps {
		got = append(got, s.Host+": "+string(s.Action)+" "+string(s.Kind)+" "+s.Name)
	}
	wantSteps := []string{
		"site-a/docker: create container web_standby_0",
		"site-a/docker: delete container web_service_0",
		"site-b/docker: create container web_service_0",
		"site-b/docker: delete container web_standby_0",
	}
	if strings.Join(got, "\n") != strings.Join(wantSteps, "\n") {
		t.Errorf("switch-over steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantSteps, "\n"))
	}
	svc, _ := container(next, "web_service_0")
	if svc == nil || len(svc.Networks) != 1 || svc.Networks[0].IPv4 != "198.19.60.10" {
		t.Errorf("service keeps its address: %+v", svc)
	}
	w.converge(t, next)
}

// TestDataAnalysisSites: the data node stays on campus (site-a), master and
// workers run at the cloud site (site-b), all on one overlay spanning both.
func TestDataAnalysisSites(t *testing.T) {
	_, want := desire(t, exampleFS(t, "data-analysis"), time.Now())
	for name, site := range map[string]string{
		"analysis_data_0": "site-a/docker", "analysis_master_0": "site-b/docker",
		"analysis_worker_0": "site-b/docker", "analysis_worker_1": "site-b/docker", "analysis_worker_2": "site-b/docker",
	} {
		if _, host := container(want, name); host != site {
			t.Errorf("%s on %q, want %s", name, host, site)
		}
	}
	for _, key := range []string{"site-a/docker", "site-b/docker"} {
		h := want.Host(key)
		if len(h.Tunnels) != 1 || len(h.Tunnels[0].Peers) != 1 {
			t.Errorf("%s: tunnels %+v, want one to the other site", key, h.Tunnels)
		}
	}
	data, _ := container(want, "analysis_data_0")
	seeds := 0
	for _, f := range data.Files {
		if strings.HasPrefix(f.Path, "/seed/part-") {
			seeds++
		}
	}
	if seeds != 4 {
		t.Errorf("data node has %d seed partitions, want 4", seeds)
	}
}

// TestHPCQueue: head and compute nodes share one queue volume on one host.
func TestHPCQueue(t *testing.T) {
	_, want := desire(t, exampleFS(t, "hpc"), time.Now())
	for _, name := range []string{"hpc_head_0", "hpc_compute_0", "hpc_compute_3"} {
		c, host := container(want, name)
		if c == nil || host != "site-a/docker" {
			t.Fatalf("%s on %q, want site-a/docker", name, host)
		}
		if len(c.Mounts) != 1 || c.Mounts[0].Volume != "hpc_queue" || c.Mounts[0].Target != "/queue" {
			t.Errorf("%s mounts %+v, want hpc_queue at /queue", name, c.Mounts)
		}
	}
	head, _ := container(want, "hpc_head_0")
	for _, f := range head.Files {
		if f.Path == "/etc/hostfile" && f.Content != "compute-0 slots=1\ncompute-1 slots=1\ncompute-2 slots=1\ncompute-3 slots=1\n" {
			t.Errorf("hostfile:\n%s", f.Content)
		}
	}
}
