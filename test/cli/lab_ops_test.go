package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/rensei-dev/rensei/test/images"
	"github.com/rensei-dev/rensei/test/lab/labtest"
)

// psRow is what the tests read of rensei ps -o json.
type psRow struct {
	Env     string `json:"env"`
	Group   string `json:"group"`
	Member  string `json:"member"`
	Site    string `json:"site"`
	Host    string `json:"host"`
	State   string `json:"state"`
	Matches bool   `json:"matches"`
}

// TestLabOps: on the three-site lab, ps lists instances on every site,
// and exec and logs reach each instance through its own site's engine,
// whichever site placement put it on; env show names the site of a
// stopped instance.
func TestLabOps(t *testing.T) {
	st := labtest.ForTest(t, 3)
	dir := t.TempDir()
	var sites []string
	for _, s := range st.Sites {
		sites = append(sites, fmt.Sprintf("r.site('%s', [r.host('docker', docker='%s', underlay='%s', netns='%s')])", s.Name, s.Docker, s.Underlay, s.Netns))
	}
	files := map[string]string{
		"sites/lab.jsonnet": "local r = import 'rensei.libsonnet';\n[\n  " + strings.Join(sites, ",\n  ") + ",\n]\n",
		"environments/ops.jsonnet": `{
  name: 'ops',
  groups: [{
    name: 's', image: '` + images.Busybox + `', members: ['a', 'b', 'c', 'd', 'e', 'f'],
    command: ['sh', '-c', 'echo "hello from $RENSEI_SITE"; exec sleep 3600'],
    resources: { cpus: 0.1, memory: '32Mi' },
  }],
}
`,
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const scope = "test-cli-lab-ops"
	wantExit(t, runRensei(t, scope, "apply", "--yes", dir), 0)

	res := runRensei(t, scope, "ps", "-o", "json", dir)
	wantExit(t, res, 0)
	var l struct {
		Instances []psRow `json:"instances"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &l); err != nil {
		t.Fatalf("ps -o json: %v", err)
	}
	onSite := map[string]psRow{}
	for _, i := range l.Instances {
		if i.State != "running" || !i.Matches || i.Host != i.Site+"/docker" {
			t.Errorf("instance %s/%s/%s: %+v", i.Env, i.Group, i.Member, i)
		}
		onSite[i.Site] = i
	}
	if len(l.Instances) != 6 || len(onSite) < 2 {
		t.Fatalf("want 6 instances spread over the sites, got %+v", l.Instances)
	}

	// One instance per site: exec and logs reach it on its own engine.
	for site, i := range onSite {
		ref := i.Env + "/" + i.Group + "/" + i.Member
		res := runRensei(t, scope, "exec", dir, ref, "--", "sh", "-c", "echo $RENSEI_SITE; hostname")
		wantExit(t, res, 0)
		if want := site + "\ns-" + i.Member + "\n"; res.stdout != want {
			t.Errorf("exec in %s: %q, want %q", ref, res.stdout, want)
		}
		res = runRensei(t, scope, "logs", dir, ref)
		wantExit(t, res, 0)
		if want := "hello from " + site + "\n"; res.stdout != want {
			t.Errorf("logs of %s: %q, want %q", ref, res.stdout, want)
		}
	}

	// Stopped on its site's engine, behind rensei's back.
	var victim psRow
	for _, i := range onSite {
		victim = i
		break
	}
	var endpoint string
	for _, s := range st.Sites {
		if s.Name == victim.Site {
			endpoint = s.Docker
		}
	}
	cli, err := client.NewClientWithOpts(client.WithHost(endpoint), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	zero := 0
	name := victim.Env + "_" + victim.Group + "_" + victim.Member
	if err := cli.ContainerStop(ctx, name, container.StopOptions{Timeout: &zero}); err != nil {
		t.Fatal(err)
	}
	ref := victim.Env + "/" + victim.Group + "/" + victim.Member
	res = runRensei(t, scope, "exec", dir, ref, "--", "true")
	wantExit(t, res, 1)
	wantContains(t, "exec in a stopped instance", res.stderr, ref+" on "+victim.Host+" is not running", "exited (code 137)")
	res = runRensei(t, scope, "env", "show", dir, "ops")
	wantExit(t, res, 0)
	wantContains(t, "env show", res.stdout, "Instances: 5 running of 6 desired", "not-running: "+ref+" on "+victim.Host, "~ container "+name)
	res = runRensei(t, scope, "ps", "--site", victim.Site, dir)
	wantExit(t, res, 0)
	for _, s := range st.Sites {
		if s.Name != victim.Site && strings.Contains(res.stdout, " "+s.Name+" ") {
			t.Errorf("ps --site %s lists %s:\n%s", victim.Site, s.Name, res.stdout)
		}
	}
}
