package e2e_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestHPC applies examples/hpc to the lab: a Slurm controller and login
// node at site-a, one compute node at each of the three sites. srun runs
// on all three sites, an MPI program (a ring and an allreduce) runs across
// them over PMIx and checks its own result, a batch job's output lands in
// its batch host's home volume. Then a commit adds a compute node: only
// the controller is replaced, the node joins, and a job running on
// another node is not killed.
func TestHPC(t *testing.T) {
	l := newResearchLab(t, "hpc", "slurm")
	key := make([]byte, 48)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	l.secret("munge", base64.StdEncoding.EncodeToString(key))
	siteA := l.docker["site-a"]
	login := func(args ...string) (string, error) {
		return stdout("docker", append([]string{"-H", siteA, "exec", "-u", "hpc", "-w", "/home/hpc", "hpc_login_0"}, args...)...)
	}
	mustLogin := func(args ...string) string {
		t.Helper()
		out, err := login(args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// siteOf is the site of a node: its name is compute-<site>-<i>.
	siteOf := func(node string) string {
		s := strings.TrimPrefix(node, "compute-")
		return s[:strings.LastIndex(s, "-")]
	}
	containerOf := func(node string) string {
		i := strings.LastIndex(node, "-")
		return "hpc_" + node[:i] + "_" + node[i+1:]
	}

	start := time.Now()
	l.rensei(0, "apply", "--yes")
	applied := time.Since(start)
	var hosts string
	eventually(t, 3*time.Minute, "srun -N 3 hostname from the login node", func() error {
		out, err := login("timeout", "20", "srun", "-N", "3", "hostname")
		if err != nil {
			return err
		}
		hosts = strings.Join(sortedFields(out), " ")
		return nil
	})
	firstJob := time.Since(start)
	if want := "compute-site-a-0 compute-site-b-0 compute-site-c-0"; hosts != want {
		t.Fatalf("srun -N 3 hostname: %q, want %q", hosts, want)
	}
	figure(t, "hpc: apply %s; first job (srun -N 3 hostname on three sites) %s after apply started", seconds(applied), seconds(firstJob))

	// MPI over PMIx across the three sites: the program checks its ring
	// and allreduce and names every rank's host.
	mpiStart := time.Now()
	out := mustLogin("timeout", "120", "srun", "-N", "3", "-n", "3", "--mpi=pmix", "/usr/local/bin/mpi-ring")
	mpiTook := time.Since(mpiStart)
	if !strings.Contains(out, "mpi-ring size=3 ring=3 allreduce=6 expected=6 hosts=") || !strings.Contains(out, "result=OK") {
		t.Fatalf("mpi-ring across sites: %q", out)
	}
	if got := mpiHosts(out); strings.Join(got, " ") != hosts {
		t.Errorf("mpi-ring ranks ran on %v, want one on each of %s", got, hosts)
	}
	figure(t, "hpc: srun --mpi=pmix mpi-ring on 3 sites: %s (%s)", seconds(mpiTook), strings.TrimSpace(out))

	// A batch job: its output lands in the batch host's home volume.
	l.writeFile("site-a", "hpc_login_0", "/home/hpc/job.sh", `#!/bin/bash
#SBATCH -N 3
#SBATCH -n 3
#SBATCH -o /home/hpc/job-%j.out
echo "job $SLURM_JOB_ID nodes $SLURM_JOB_NODELIST"
srun hostname | sort | tr '\n' ' '; echo
srun --mpi=pmix /usr/local/bin/mpi-ring
mpirun /usr/local/bin/mpi-ring
`)
	l.mustExec("site-a", "hpc_login_0", "chown", "hpc:hpc", "/home/hpc/job.sh")
	job := strings.TrimSpace(mustLogin("sbatch", "--parsable", "job.sh"))
	batchStart := time.Now()
	batchHost := waitJob(t, login, job, "COMPLETED", 3*time.Minute)
	batchTook := time.Since(batchStart)
	output := l.mustExec(siteOf(batchHost), containerOf(batchHost), "cat", "/home/hpc/job-"+job+".out")
	t.Logf("job %s on %s:\n%s", job, batchHost, output)
	if strings.Count(output, "result=OK") != 2 || !strings.Contains(output, hosts) {
		t.Fatalf("batch job %s output in %s's home volume:\n%s", job, batchHost, output)
	}
	if viaSrun := mustLogin("srun", "-N1", "-w", batchHost, "cat", "/home/hpc/job-"+job+".out"); viaSrun != output {
		t.Errorf("the output read from the login node with srun -w %s differs:\n%s", batchHost, viaSrun)
	}
	figure(t, "hpc: sbatch job (srun + srun --mpi=pmix + mpirun on 3 nodes) submitted to completed in %s", seconds(batchTook))

	// A job that runs while a node is added.
	sleeper := strings.TrimSpace(mustLogin("sbatch", "--parsable", "-N1", "-w", "compute-site-b-0", "-J", "sleeper",
		"-o", "/home/hpc/sleeper-%j.out", "--wrap", "sleep 45; echo sleeper-done"))
	waitJob(t, login, sleeper, "RUNNING", time.Minute)
	// slurmctld saves job state a few seconds after a change; Rensei's
	// Docker driver removes a replaced container with SIGKILL (no stop
	// timeout), so a job younger than the last save would be lost.
	time.Sleep(8 * time.Second)

	l.edit("environments/cluster.jsonnet", "'site-b': 1,", "'site-b': 2,")
	l.commit("hpc: a second compute node at site-b")
	plan := l.rensei(0, "plan", "-o", "json")
	var p planOut
	if err := json.Unmarshal([]byte(plan.stdout), &p); err != nil {
		t.Fatalf("plan -o json: %v", err)
	}
	var changed []string
	for _, s := range p.changes() {
		if s.Kind == "container" {
			changed = append(changed, s.Action+" "+s.Name)
		}
	}
	slices.Sort(changed)
	if want := []string{"create hpc_compute-site-b_1", "replace hpc_ctl_0"}; !slices.Equal(changed, want) {
		t.Fatalf("adding a node changes containers %v, want %v:\n%s", changed, want, plan.stdout)
	}
	addStart := time.Now()
	l.rensei(0, "apply", "--yes")
	eventually(t, 2*time.Minute, "compute-site-b-1 idle and known to the login node", func() error {
		if out, err := login("sinfo", "-h", "-n", "compute-site-b-1", "-t", "idle", "-o", "%D"); err != nil || strings.TrimSpace(out) != "1" {
			return fmt.Errorf("sinfo: %q %v", out, err)
		}
		if _, err := login("grep", "-q", "^NodeName=compute-site-b-1 ", "/run/slurm/conf/slurm.conf"); err != nil {
			return fmt.Errorf("login's slurm.conf has no compute-site-b-1 yet")
		}
		return nil
	})
	joined := time.Since(addStart)
	out = mustLogin("timeout", "120", "srun", "-N", "3", "-n", "3", "-w", "compute-site-a-0,compute-site-b-1,compute-site-c-0", "--mpi=pmix", "/usr/local/bin/mpi-ring")
	if !strings.Contains(out, "result=OK") || strings.Join(mpiHosts(out), " ") != "compute-site-a-0 compute-site-b-1 compute-site-c-0" {
		t.Fatalf("mpi-ring with the new node: %q", out)
	}
	figure(t, "hpc: node added: apply started to the new node idle and usable by srun %s", seconds(joined))
	if st := jobState(login, sleeper); st != "RUNNING" && st != "COMPLETED" {
		t.Fatalf("the job running on compute-site-b-0 while the controller was replaced is %s", st)
	}
	waitJob(t, login, sleeper, "COMPLETED", 2*time.Minute)
	if out := l.mustExec("site-b", "hpc_compute-site-b_0", "cat", "/home/hpc/sleeper-"+sleeper+".out"); strings.TrimSpace(out) != "sleeper-done" {
		t.Errorf("sleeper output: %q", out)
	}
	info := mustLogin("sinfo", "-h", "-N", "-o", "%N %t")
	t.Logf("sinfo after the node was added:\n%s", info)
	if len(strings.Fields(info)) != 8 || strings.Count(info, "idle") != 4 {
		t.Errorf("want 4 idle compute nodes:\n%s", info)
	}
	mustRensei(t, 0, "plan", "--detailed-exitcode", "--secrets-dir", l.secrets, l.repo.Dir)
}

var mpiHostsRE = regexp.MustCompile(`hosts=(\S+)`)

// mpiHosts are the hosts mpi-ring names, sorted.
func mpiHosts(out string) []string {
	m := mpiHostsRE.FindStringSubmatch(out)
	if m == nil {
		return nil
	}
	h := strings.Split(m[1], ",")
	slices.Sort(h)
	return h
}

func sortedFields(s string) []string {
	f := strings.Fields(s)
	slices.Sort(f)
	return f
}

var (
	jobStateRE = regexp.MustCompile(`JobState=(\S+)`)
	batchRE    = regexp.MustCompile(`BatchHost=(\S+)`)
)

// jobState is a job's state as scontrol shows it ("" when unknown).
func jobState(login func(...string) (string, error), job string) string {
	out, err := login("scontrol", "show", "job", job)
	if err != nil {
		return ""
	}
	if m := jobStateRE.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return ""
}

// waitJob waits until a job reaches state and returns its batch host; a
// job that ends in another state fails the test.
func waitJob(t *testing.T, login func(...string) (string, error), job, state string, timeout time.Duration) string {
	t.Helper()
	var host string
	eventually(t, timeout, "job "+job+" "+state, func() error {
		out, err := login("scontrol", "show", "job", job)
		if err != nil {
			return err
		}
		st := ""
		if m := jobStateRE.FindStringSubmatch(out); m != nil {
			st = m[1]
		}
		if m := batchRE.FindStringSubmatch(out); m != nil {
			host = m[1]
		}
		switch {
		case st == state:
			return nil
		case st == "FAILED" || st == "CANCELLED" || st == "TIMEOUT" || st == "NODE_FAIL" || (st == "COMPLETED" && state != st):
			t.Fatalf("job %s is %s, want %s:\n%s", job, st, state, out)
		}
		return fmt.Errorf("job %s is %s", job, st)
	})
	return host
}
