package engine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/drivers/fake"
	"github.com/rensei-dev/rensei/reconcile/change"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/plan"
	"github.com/rensei-dev/rensei/schema"
)

const opsSites = `local r = import 'rensei.libsonnet';
[
  r.site('campus', [r.host('h0', docker='unix:///fake-0.sock', underlay='198.18.0.1')]),
  r.site('cloud', [r.host('h0', docker='unix:///fake-1.sock', underlay='198.18.0.2')]),
]
`

// opsEnvs: cs (three students, one on each site at least) and next,
// whose window opens on 2027-09-01 (after now).
func opsEnvs(nextMembers string) string {
	return `[
  { name: 'cs', networks: [{ name: 'lan', subnet: '198.19.1.0/24' }],
    groups: [{ name: 'student', image: 'rensei/busybox:1', members: ['ann', 'bob', 'cyd'], networks: [{ network: 'lan' }] },
             { name: 'tutor', image: 'rensei/busybox:1', replicas: 1, networks: [{ network: 'lan', address: '198.19.1.10' }] }] },
  { name: 'next', active: { from: '2027-09-01' },
    groups: [{ name: 's', image: 'rensei/busybox:1', members: [` + nextMembers + `], placement: { sites: ['campus'] } }] },
]
`
}

// loadOps loads a revision of the ops configuration from memory.
func loadOps(t *testing.T, nextMembers string) *engine.Revision {
	t.Helper()
	fsys := fstest.MapFS{
		"sites/lab.jsonnet":        {Data: []byte(opsSites)},
		"environments/ops.jsonnet": {Data: []byte(opsEnvs(nextMembers))},
	}
	rev, err := engine.Load(context.Background(), engine.Source{Name: "ops", FS: fsys}, engine.InProcess{}, schema.Options{}, "")
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return rev
}

// opsHosts are converged fake hosts for want's hosts.
func opsHosts(t *testing.T, rev *engine.Revision) (*engine.Hosts, map[string]*fake.Host) {
	t.Helper()
	want, err := rev.At(now)
	if err != nil {
		t.Fatal(err)
	}
	fakes := map[string]*fake.Host{}
	hosts := &engine.Hosts{Drivers: map[string]drivers.Host{}}
	for _, h := range want.Hosts {
		fakes[h.Key] = fake.New(h.Key)
		hosts.Drivers[h.Key] = fakes[h.Key].Drivers()
	}
	if out := engine.Pass(context.Background(), want, hosts, engine.Options{}); !out.Converged() {
		t.Fatalf("not converged: %v", out.Err())
	}
	return hosts, fakes
}

// where returns the host of a container in want.
func where(t *testing.T, rev *engine.Revision, name string) string {
	t.Helper()
	want, _ := rev.At(now)
	for _, h := range want.Hosts {
		for _, c := range h.Containers {
			if c.Name == name {
				return h.Key
			}
		}
	}
	t.Fatalf("container %s is not desired", name)
	return ""
}

func TestInstances(t *testing.T) {
	ctx := context.Background()
	rev := loadOps(t, "'a', 'b'")
	hosts, fakes := opsHosts(t, rev)
	want, _ := rev.At(now)

	// Drift: one stopped, one removed, one left over from a group the
	// configuration no longer has.
	fakes[where(t, rev, "cs_student_ann")].Stop("cs_student_ann")
	fakes[where(t, rev, "cs_student_bob")].Remove("container", "cs_student_bob")
	stray := drivers.ContainerSpec{Name: "cs_old_0", Image: "rensei/busybox:0", Labels: map[string]string{
		drivers.LabelManaged: "true", drivers.LabelEnv: "cs", drivers.LabelGroup: "old", drivers.LabelInstance: "0", drivers.LabelSpecHash: "x"}}
	if err := hosts.Drivers["campus/h0"].Containers.Ensure(ctx, stray); err != nil {
		t.Fatal(err)
	}

	list, p, settled := engine.Instances(ctx, want, hosts, nil)
	if err := list.Err(); err != nil {
		t.Fatalf("all hosts are up: %v", err)
	}
	got := map[string]engine.Instance{}
	for _, i := range list.Instances {
		got[i.Ref()] = i
	}
	for _, tc := range []struct {
		ref            string
		state          string
		desired, match bool
		action         change.Action
	}{
		{"cs/student/ann", engine.StateStopped, true, false, change.Update},
		{"cs/student/bob", engine.StateMissing, true, false, change.Create},
		{"cs/student/cyd", engine.StateRunning, true, true, ""},
		{"cs/tutor/0", engine.StateRunning, true, true, ""},
		{"cs/old/0", engine.StateRunning, false, false, change.Delete},
	} {
		i, ok := got[tc.ref]
		switch {
		case !ok:
			t.Errorf("%s: not listed; got %v", tc.ref, list.Instances)
		case i.State != tc.state || i.Desired != tc.desired || i.Matches != tc.match || i.Action != tc.action:
			t.Errorf("%s: state %s desired %v matches %v action %q; want %s %v %v %q", tc.ref, i.State, i.Desired, i.Matches, i.Action, tc.state, tc.desired, tc.match, tc.action)
		}
	}
	if len(list.Instances) != 5 {
		t.Errorf("want 5 instances (next is scheduled: none), got %d: %v", len(list.Instances), list.Instances)
	}
	if tutor := got["cs/tutor/0"]; len(tutor.Addresses) != 1 || tutor.Addresses[0] != (engine.Address{Network: "lan", IPv4: "198.19.1.10"}) {
		t.Errorf("the tutor's addresses: %v, want lan=198.19.1.10", tutor.Addresses)
	}

	envs := engine.Environments(rev.Topology, settled, list, p)
	if len(envs) != 2 || envs[0].Name != "cs" || envs[1].Name != "next" {
		t.Fatalf("environments: %v", envs)
	}
	cs, next := envs[0], envs[1]
	if cs.State != "active" || cs.Desired != 4 || cs.Running != 2 || cs.Undesired != 1 || len(cs.Sites) != 2 {
		t.Errorf("cs: %+v; want active, 2 of 4 running, 1 undesired, on 2 sites", cs)
	}
	codes := map[string]string{}
	for _, pr := range cs.Problems {
		codes[pr.Object] = pr.Code
	}
	if codes["cs/student/ann"] != engine.ProblemNotRunning || codes["cs/student/bob"] != engine.ProblemMissing || len(codes) != 2 {
		t.Errorf("cs problems: %v", cs.Problems)
	}
	if len(cs.Drift) != 3 {
		t.Errorf("cs drift: %v, want start ann, create bob, delete the stray", cs.Drift)
	}
	if next.State != "scheduled" || next.Desired != 0 || !next.From.Equal(schema.MustTime("2027-09-01").T) {
		t.Errorf("next: %+v", next)
	}

	// A host that is down: its instances are listed as unreachable and
	// the list's error names it.
	fakes["cloud/h0"].SetDown(true)
	list, _, _ = engine.Instances(ctx, want, hosts, nil)
	if err := list.Err(); err == nil || !strings.Contains(err.Error(), "cloud/h0") {
		t.Errorf("Err: %v, want cloud/h0 named", err)
	}
	for _, i := range list.Instances {
		if i.Host == "cloud/h0" && (i.State != engine.StateUnreachable || i.Matches) {
			t.Errorf("%s on the down host: state %s matches %v", i.Ref(), i.State, i.Matches)
		}
	}
}

func TestFindInstance(t *testing.T) {
	ctx := context.Background()
	rev := loadOps(t, "'a', 'b'")
	hosts, _ := opsHosts(t, rev)
	want, _ := rev.At(now)
	list, _, settled := engine.Instances(ctx, want, hosts, nil)
	find := func(s string) (engine.Instance, error) {
		ref, err := engine.ParseInstanceRef(s)
		if err != nil {
			t.Fatalf("parse %s: %v", s, err)
		}
		return list.Find(ref, settled.Environments)
	}
	if i, err := find("cs/student/bob"); err != nil || i.Container != "cs_student_bob" || i.CheckRunning() != nil {
		t.Errorf("cs/student/bob: %+v, %v", i, err)
	}
	if i, err := find("cs/tutor"); err != nil || i.Member != "0" {
		t.Errorf("cs/tutor (a group of one): %+v, %v", i, err)
	}
	for _, tc := range []struct {
		ref  string
		want []string
	}{
		{"cs/student", []string{"cs/student has 3 instances", "cs/student/ann"}},
		{"cs/studnet/ann", []string{`environment cs has no group "studnet"`, "groups: student, tutor", "did you mean cs/student/ann"}},
		{"cs/student/bbo", []string{`group cs/student has no member "bbo"`, "3 members: ann, bob, cyd", "did you mean cs/student/bob"}},
		{"next/s/a", []string{"environment next is scheduled: its window opens 2027-09-01"}},
		{"sc/student/ann", []string{`no environment "sc"`, "environments: cs, next", "did you mean cs/student/ann"}},
	} {
		_, err := find(tc.ref)
		if !errors.Is(err, engine.ErrNoInstance) {
			t.Errorf("%s: %v, want ErrNoInstance", tc.ref, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tc.ref, err, w)
			}
		}
	}
	for _, bad := range []string{"cs", "cs/student/ann/x", "cs//ann", ""} {
		if _, err := engine.ParseInstanceRef(bad); err == nil {
			t.Errorf("ParseInstanceRef(%q): no error", bad)
		}
	}
	stopped := engine.Instance{Env: "cs", Group: "student", Member: "ann", Host: "campus/h0", State: "exited", ExitCode: 137}
	err := stopped.CheckRunning()
	if !errors.Is(err, engine.ErrNotRunning) || !strings.Contains(err.Error(), "exited (code 137)") || !strings.Contains(err.Error(), "campus/h0") {
		t.Errorf("CheckRunning of an exited instance: %v", err)
	}
}

func TestSnapshotChanges(t *testing.T) {
	ctx := context.Background()
	rev := loadOps(t, "'a', 'b'")
	hosts, fakes := opsHosts(t, rev)
	want, _ := rev.At(now)
	snap := func(r *engine.Revision) engine.Snapshot {
		t.Helper()
		_, obs, settled := engine.Plan(ctx, want, hosts, nil)
		rd, err := engine.DigestRevision(r)
		if err != nil {
			t.Fatal(err)
		}
		return engine.Snapshot{Revision: rd, Desired: engine.DigestDesired(hosts.Only(settled)), Live: engine.DigestLive(obs)}
	}
	then := snap(rev)
	if cs := then.Changes(snap(rev)); len(cs) != 0 {
		t.Fatalf("nothing changed, yet: %v", cs)
	}
	fakes[where(t, rev, "cs_student_ann")].Stop("cs_student_ann")
	other := loadOps(t, "'a', 'b', 'c'")
	cs := then.Changes(snap(other))
	var got []string
	for _, c := range cs {
		got = append(got, c.Part+" "+c.Host+" "+c.Object)
	}
	all := strings.Join(got, "\n")
	for _, w := range []string{"revision  file environments/ops.jsonnet", "live " + where(t, rev, "cs_student_ann") + " container cs_student_ann"} {
		if !strings.Contains(all, w) {
			t.Errorf("changes do not name %q:\n%s", w, all)
		}
	}
	// A host that went down is one change, not every object it held.
	fakes["cloud/h0"].SetDown(true)
	var down []engine.SnapshotChange
	for _, c := range then.Changes(snap(rev)) {
		if c.Host == "cloud/h0" {
			down = append(down, c)
		}
	}
	if len(down) != 1 || down[0].Object != "host" || down[0].To != "unreachable" {
		t.Errorf("changes on the host that went down: %+v", down)
	}
}

func TestUpcoming(t *testing.T) {
	base, head := loadOps(t, "'a', 'b'"), loadOps(t, "'a', 'b', 'c'")
	ups := engine.UpcomingChanges(base, head, now)
	if len(ups) != 1 || ups[0].Env != "next" || !ups[0].Opens.Equal(schema.MustTime("2027-09-01").T) {
		t.Fatalf("upcoming: %+v", ups)
	}
	if n := ups[0].Diff.Counts().Containers; n.Create != 1 || n.Delete != 0 {
		t.Errorf("containers at the opening: %+v, want +1", n)
	}
	if s := ups[0].Summary(); !strings.Contains(s, "containers +1") || !strings.Contains(s, "next_s_c") {
		t.Errorf("summary %q", s)
	}
	if ups := engine.UpcomingChanges(base, base, now); len(ups) != 0 {
		t.Errorf("the same revision twice: %+v", ups)
	}
	opens := head.Openings(now)
	if len(opens) != 1 || opens[0].Diff.Counts().Containers.Create != 3 {
		t.Errorf("openings: %+v, want next with +3 containers", opens)
	}
	cloud := &engine.Hosts{Drivers: map[string]drivers.Host{"cloud/h0": fake.New("cloud/h0").Drivers()}}
	campus := &engine.Hosts{Drivers: map[string]drivers.Host{"campus/h0": fake.New("campus/h0").Drivers()}}
	if on := cloud.On(opens); len(on) != 0 {
		t.Errorf("next opens on campus only, yet on cloud: %+v", on)
	}
	if on := campus.On(opens); len(on) != 1 {
		t.Errorf("next opens on campus: %+v", on)
	}
	if opens := head.Openings(schema.MustTime("2027-09-02").T); len(opens) != 0 {
		t.Errorf("after the opening nothing is scheduled: %+v", opens)
	}
}

// TestEnvironmentCommit: the last applied commit is the one on the most
// recently made container; older ones are listed after it.
func TestEnvironmentCommit(t *testing.T) {
	rev := loadOps(t, "'a'")
	want, _ := rev.At(now)
	day := func(d int) time.Time { return now.AddDate(0, 0, d) }
	l := engine.InstanceList{Instances: []engine.Instance{
		{Env: "cs", Group: "student", Member: "ann", Desired: true, State: engine.StateRunning, Commit: "c1", Created: day(-3)},
		{Env: "cs", Group: "student", Member: "bob", Desired: true, State: engine.StateRunning, Commit: "c3", Created: day(-1)},
		{Env: "cs", Group: "student", Member: "cyd", Desired: true, State: engine.StateRunning, Commit: "c2", Created: day(-2)},
		{Env: "gone", Group: "g", Member: "0", State: engine.StateRunning, Commit: "c0", Created: day(-9)},
	}}
	envs := engine.Environments(rev.Topology, want, l, plan.Plan{})
	byName := map[string]engine.EnvView{}
	for _, v := range envs {
		byName[v.Name] = v
	}
	if cs := byName["cs"]; cs.Commit != "c3" || !slices.Equal(cs.Commits, []string{"c3", "c2", "c1"}) {
		t.Errorf("cs: commit %q, commits %v; want c3, then c2, c1", cs.Commit, cs.Commits)
	}
	if g := byName["gone"]; g.State != engine.EnvRemoved || g.Undesired != 1 || g.Running != 0 || g.Desired != 0 || len(g.Sites) != 0 {
		t.Errorf("an environment only the hosts hold: %+v", g)
	}
}

// TestSnapshotCommit: a revision read from Git is identified by its commit.
func TestSnapshotCommit(t *testing.T) {
	then := engine.Snapshot{Revision: engine.RevisionDigest{Commit: "1111"}}
	cs := then.Changes(engine.Snapshot{Revision: engine.RevisionDigest{Commit: "2222"}})
	if len(cs) != 1 || cs[0].Part != "revision" || cs[0].From != "1111" || cs[0].To != "2222" {
		t.Errorf("changes: %+v", cs)
	}
}
