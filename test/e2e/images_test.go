package e2e_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/rensei-dev/rensei/images"
	"github.com/rensei-dev/rensei/test/lab/labtest"
)

// TestImageCopiedBetweenSites: an image that only site-a has (no registry
// answers here) reaches site-b through Rensei: the plan says it is copied
// from site-a, the container runs at site-b, and the image there has the
// same ID.
func TestImageCopiedBetweenSites(t *testing.T) {
	st := labtest.ForTest(t, 2)
	siteA, _ := st.Site("site-a")
	siteB, _ := st.Site("site-b")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	host, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	if _, err := images.Build(ctx, host, images.Options{Names: []string{"web"}}); err != nil {
		t.Fatal(err)
	}
	a, err := client.NewClientWithOpts(client.WithHost(siteA.Docker), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	const ref = "rensei/web:latest"
	if err := images.Copy(ctx, host, a, ref); err != nil {
		t.Fatal(err)
	}
	if _, err := command("docker", "-H", siteB.Docker, "image", "inspect", ref); err == nil {
		t.Fatalf("site-b already has %s: the test needs it only at site-a", ref)
	}
	repo := t.TempDir()
	sites, err := os.ReadFile(filepath.Join(repoRoot, "site-configs", "lab.jsonnet"))
	if err != nil {
		t.Fatal(err)
	}
	// Two sites only: the lab of this test.
	two := strings.Replace(string(sites), "  labSite('c', 3),\n", "", 1)
	for rel, content := range map[string]string{
		"sites/lab.jsonnet": two,
		"environments/web.jsonnet": `{
  name: 'imgcopy',
  groups: [{ name: 'web', image: 'rensei/web:latest', replicas: 1, placement: { sites: ['site-b'] }, resources: { cpus: 0.1, memory: '32Mi' } }],
}
`,
	} {
		p := filepath.Join(repo, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	plan := mustRensei(t, 0, "plan", repo)
	if !strings.Contains(plan.stdout, "rensei/web:latest: missing on this host: copied from site-a/docker") {
		t.Errorf("the plan does not say where the image comes from:\n%s", plan.stdout)
	}
	mustRensei(t, 0, "apply", "--yes", repo)
	idA := strings.TrimSpace(must(t, "docker", "-H", siteA.Docker, "image", "inspect", "-f", "{{.Id}}", ref))
	idB := strings.TrimSpace(must(t, "docker", "-H", siteB.Docker, "image", "inspect", "-f", "{{.Id}}", ref))
	if idA != idB {
		t.Errorf("image IDs differ: site-a %s, site-b %s", idA, idB)
	}
	if state := strings.TrimSpace(must(t, "docker", "-H", siteB.Docker, "inspect", "-f", "{{.State.Status}}", "imgcopy_web_0")); state != "running" {
		t.Errorf("imgcopy_web_0 at site-b is %s", state)
	}
}
