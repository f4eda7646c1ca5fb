package examples_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rensei-dev/rensei/drivers"
)

// The research examples (research.libsonnet) without hosts: where each
// container goes, what its rendered files say, and that the one-line
// changes their READMEs promise change exactly what they say. Their lab
// tests (test/e2e/research_*_test.go) run the software.

// fileOf is the content of the file at path placed into c.
func fileOf(t *testing.T, c *drivers.ContainerSpec, path string) string {
	t.Helper()
	for _, f := range c.Files {
		if f.Path == path {
			return f.Content
		}
	}
	t.Fatalf("%s has no file %s", c.Name, path)
	return ""
}

// addressOf is a container's static address ("" when it has none).
func addressOf(c *drivers.ContainerSpec) string {
	if c == nil || len(c.Networks) == 0 {
		return ""
	}
	return c.Networks[0].IPv4
}

func envOf(c *drivers.ContainerSpec, key string) string {
	for _, kv := range c.Env {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v
		}
	}
	return ""
}

// containerSteps are a plan's container steps as "action name", sorted.
func containerSteps(keys []string) []string {
	var out []string
	for _, k := range keys {
		if f := strings.Fields(k); len(f) == 3 && f[1] == "container" && f[0] != "skip" && f[0] != "keep" {
			out = append(out, f[0]+" "+f[2])
		}
	}
	return out
}

// TestHPCSlurmConf: the controller and login at site-a, a compute node at
// each site; slurm.conf names every node by its host name and static
// address, the controller by its host name; adding a node replaces the
// controller only and creates the node.
func TestHPCSlurmConf(t *testing.T) {
	now := time.Now()
	fsys := exampleFS(t, "hpc")
	_, want := desire(t, fsys, now)
	nodes := map[string]string{
		"hpc_ctl_0": "site-a/docker", "hpc_login_0": "site-a/docker", "hpc_compute-site-a_0": "site-a/docker",
		"hpc_compute-site-b_0": "site-b/docker", "hpc_compute-site-c_0": "site-c/docker",
	}
	if got := containersOf(want, "hpc"); len(got) != len(nodes) {
		t.Fatalf("containers %v, want %d", got, len(nodes))
	}
	for name, host := range nodes {
		c, h := container(want, name)
		if h != host || addressOf(c) == "" {
			t.Errorf("%s on %q at %q, want %s with a static address", name, h, addressOf(c), host)
		}
	}
	ctl, _ := container(want, "hpc_ctl_0")
	conf := fileOf(t, ctl, "/etc/slurm/slurm.conf")
	for _, line := range []string{
		"ClusterName=hpc",
		"SlurmctldHost=ctl-0(" + addressOf(ctl) + ")",
		"PartitionName=batch Nodes=compute-site-a-0,compute-site-b-0,compute-site-c-0 Default=YES MaxTime=INFINITE State=UP",
		"MpiDefault=pmix",
	} {
		if !strings.Contains(conf, line+"\n") {
			t.Errorf("slurm.conf lacks %q:\n%s", line, conf)
		}
	}
	for _, n := range []string{"compute-site-a-0", "compute-site-b-0", "compute-site-c-0", "login-0"} {
		c, _ := container(want, "hpc_"+strings.TrimSuffix(n, "-0")+"_0")
		if c == nil || c.Hostname != n {
			t.Fatalf("no container with host name %s", n)
		}
		if !strings.Contains(conf, "NodeName="+n+" NodeAddr="+addressOf(c)+" ") {
			t.Errorf("slurm.conf has no NodeName=%s NodeAddr=%s:\n%s", n, addressOf(c), conf)
		}
		if got := envOf(c, "SLURM_CONF_SERVER"); got != addressOf(ctl)+":6817" {
			t.Errorf("%s: SLURM_CONF_SERVER=%q", c.Name, got)
		}
		if fileOf(t, c, "/etc/rensei/munge.key") != "${rensei:secret:munge}" {
			t.Errorf("%s: the munge key is not the secret reference", c.Name)
		}
	}
	if strings.Contains(conf, "${rensei:") {
		t.Errorf("slurm.conf keeps placement references:\n%s", conf)
	}

	w := newWorld(want)
	w.converge(t, want)
	edit(t, fsys, "environments/cluster.jsonnet", "'site-b': 1,", "'site-b': 2,")
	next := w.desire(t, fsys, now)
	got := containerSteps(stepKeys(w.plan(next)))
	if exp := []string{"create hpc_compute-site-b_1", "replace hpc_ctl_0"}; !slices.Equal(got, exp) {
		t.Errorf("adding a node: %v, want %v", got, exp)
	}
	ctl2, _ := container(next, "hpc_ctl_0")
	added, host := container(next, "hpc_compute-site-b_1")
	if host != "site-b/docker" || !strings.Contains(fileOf(t, ctl2, "/etc/slurm/slurm.conf"), "NodeName=compute-site-b-1 NodeAddr="+addressOf(added)+" ") {
		t.Errorf("the new node (on %s) is not in slurm.conf", host)
	}
	if addressOf(ctl2) != addressOf(ctl) {
		t.Errorf("the controller moved from %s to %s", addressOf(ctl), addressOf(ctl2))
	}
	w.converge(t, next)
}

// TestDataAnalysisSites: the data set, its stage and the DATA worker at
// site-a (campus); the scheduler and the COMPUTE workers at site-b
// (cloud), which mount nothing; one overlay over both.
func TestDataAnalysisSites(t *testing.T) {
	_, want := desire(t, exampleFS(t, "data-analysis"), time.Now())
	for name, site := range map[string]string{
		"analysis_stage_0": "site-a/docker", "analysis_data_0": "site-a/docker", "analysis_scheduler_0": "site-b/docker",
		"analysis_worker-site-b_0": "site-b/docker", "analysis_worker-site-b_1": "site-b/docker",
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
	sched, _ := container(want, "analysis_scheduler_0")
	addr := "tcp://" + addressOf(sched) + ":8786"
	data, _ := container(want, "analysis_data_0")
	if len(data.Mounts) != 1 || data.Mounts[0].Target != "/data" || !data.Mounts[0].ReadOnly {
		t.Errorf("the DATA worker mounts %+v, want the dataset read-only at /data", data.Mounts)
	}
	stage, _ := container(want, "analysis_stage_0")
	if len(stage.Mounts) != 1 || stage.Mounts[0].Volume != data.Mounts[0].Volume || stage.Mounts[0].ReadOnly {
		t.Errorf("stage mounts %+v, want the DATA worker's volume read-write", stage.Mounts)
	}
	for name, res := range map[string]string{"analysis_data_0": "DATA=1", "analysis_worker-site-b_0": "COMPUTE=1", "analysis_worker-site-b_1": "COMPUTE=1"} {
		c, _ := container(want, name)
		if envOf(c, "DASK_RESOURCES") != res || envOf(c, "DASK_SCHEDULER_ADDRESS") != addr || envOf(c, "DASK_HOST") != "auto" {
			t.Errorf("%s env %v", name, c.Env)
		}
		if strings.HasPrefix(name, "analysis_worker") && len(c.Mounts) != 0 {
			t.Errorf("%s at the compute site mounts %+v", name, c.Mounts)
		}
	}
}

// TestBackupSiteSwitchOver: the one-line change of the primary site moves
// the service and the standby between the sites, and nothing else: each
// site already has its data and restic volumes, the service keeps its
// address, and the standby pulls from it.
func TestBackupSiteSwitchOver(t *testing.T) {
	now := time.Date(2027, 5, 1, 0, 0, 0, 0, time.UTC)
	fsys := exampleFS(t, "backup-site")
	_, want := desire(t, fsys, now)
	svc, host := container(want, "web_service_0")
	if host != "site-a/docker" || addressOf(svc) != "198.19.60.10" {
		t.Fatalf("service on %q at %q, want site-a/docker at 198.19.60.10", host, addressOf(svc))
	}
	standby, host := container(want, "web_standby_0")
	if host != "site-b/docker" || envOf(standby, "PRIMARY_ADDR") != "198.19.60.10" || envOf(standby, "SYNC_INTERVAL") != "60" {
		t.Fatalf("standby on %q with %v", host, standby.Env)
	}
	if fileOf(t, standby, "/etc/rensei/restic.password") != "${rensei:secret:backup-restic}" ||
		fileOf(t, svc, "/etc/rensei/rsync.password") != "${rensei:secret:backup-rsync}" {
		t.Error("the passwords are not secret references")
	}
	w := newWorld(want)
	w.converge(t, want)

	edit(t, fsys, "environments/web.jsonnet", "local primary = 'site-a';", "local primary = 'site-b';")
	next := w.desire(t, fsys, now)
	p := w.plan(next)
	var got []string
	for _, s := range p.Steps {
		if s.Action != "skip" && s.Action != "keep" {
			got = append(got, s.Host+": "+string(s.Action)+" "+string(s.Kind)+" "+s.Name)
		}
	}
	wantSteps := []string{
		"site-a/docker: create container web_standby_0",
		"site-a/docker: delete container web_service_0",
		"site-b/docker: create container web_service_0",
		"site-b/docker: delete container web_standby_0",
	}
	slices.Sort(got)
	if !slices.Equal(got, wantSteps) {
		t.Errorf("switch-over steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantSteps, "\n"))
	}
	if len(next.Moves) != 0 {
		t.Errorf("the switch-over reports moves away from data: %v", next.Moves)
	}
	svc, _ = container(next, "web_service_0")
	if addressOf(svc) != "198.19.60.10" {
		t.Errorf("service at %q after the switch, want 198.19.60.10", addressOf(svc))
	}
	w.converge(t, next)
}

var serverRE = regexp.MustCompile(`(?m)^\tserver (\S+) (\S+):80$`)

// TestLBServiceReplicaAdded: HAProxy at site-c lists every replica by its
// static address; adding a replica creates it and replaces only the load
// balancer.
func TestLBServiceReplicaAdded(t *testing.T) {
	now := time.Now()
	fsys := exampleFS(t, "lb-service")
	_, want := desire(t, fsys, now)
	check := func(names ...string) {
		t.Helper()
		_, want := desire(t, fsys, now)
		lb, host := container(want, "shop_lb_0")
		if host != "site-c/docker" {
			t.Fatalf("lb on %q", host)
		}
		var got []string
		for _, m := range serverRE.FindAllStringSubmatch(fileOf(t, lb, "/etc/haproxy/haproxy.cfg"), -1) {
			i := strings.LastIndex(m[1], "-")
			c, _ := container(want, "shop_"+m[1][:i]+"_"+m[1][i+1:])
			if c == nil || addressOf(c) != m[2] {
				t.Errorf("server %s %s: no such replica at that address", m[1], m[2])
			}
			got = append(got, m[1])
		}
		if !slices.Equal(got, names) {
			t.Errorf("haproxy servers %v, want %v", got, names)
		}
	}
	check("web-site-a-0", "web-site-b-0")
	w := newWorld(want)
	w.converge(t, want)
	edit(t, fsys, "environments/shop.jsonnet", "'site-a': 1,", "'site-a': 2,")
	check("web-site-a-0", "web-site-a-1", "web-site-b-0")
	next := w.desire(t, fsys, now)
	got := containerSteps(stepKeys(w.plan(next)))
	if exp := []string{"create shop_web-site-a_1", "replace shop_lb_0"}; !slices.Equal(got, exp) {
		t.Errorf("adding a replica: %v, want %v", got, exp)
	}
	w.converge(t, next)
}

// TestBigDataWorkflowWindow: the workflow exists only inside its window;
// the job writes to the results volume at campus, the workers are in the
// cloud.
func TestBigDataWorkflowWindow(t *testing.T) {
	fsys := exampleFS(t, "bigdata-workflow")
	const env = "climate-2027w23"
	for _, tc := range []struct {
		at    string
		state string
	}{{"2027-06-06", "scheduled"}, {"2027-06-10", "active"}, {"2027-06-14", "ended"}} {
		at, _ := time.Parse(time.DateOnly, tc.at)
		_, want := desire(t, fsys, at)
		st, _ := want.Env(env)
		if string(st.State) != tc.state {
			t.Errorf("at %s: %s, want %s", tc.at, st.State, tc.state)
		}
		if n := len(containersOf(want, env)); (tc.state == "active") != (n > 0) {
			t.Errorf("at %s: %d containers", tc.at, n)
		}
	}
	_, want := desire(t, fsys, time.Date(2027, 6, 10, 0, 0, 0, 0, time.UTC))
	job, host := container(want, env+"_job_0")
	if host != "site-a/docker" || len(job.Mounts) != 1 || job.Mounts[0].Target != "/results" || envOf(job, "RESULT_FILE") != "/results/"+env+".json" {
		t.Errorf("job on %q: mounts %+v, env %v", host, job.Mounts, job.Env)
	}
	for name, site := range map[string]string{"scheduler_0": "site-b/docker", "worker-site-b_0": "site-b/docker", "worker-site-b_1": "site-b/docker", "data_0": "site-a/docker", "stage_0": "site-a/docker"} {
		if _, host := container(want, env+"_"+name); host != site {
			t.Errorf("%s on %q, want %s", name, host, site)
		}
	}
}
