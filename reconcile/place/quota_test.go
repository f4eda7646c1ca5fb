package place_test

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/rensei-dev/rensei/reconcile/place"
	"github.com/rensei-dev/rensei/schema"
)

// TestTenantQuota: a tenant's quota counts what its active environments
// use together, with the default limits for what groups leave out; going
// over is a placement problem naming the tenant and the rule, and an
// environment that has ended does not count.
func TestTenantQuota(t *testing.T) {
	fsys := fstest.MapFS{
		"sites/s.jsonnet": {Data: []byte(`[{ name: 'campus', hosts: [{ name: 'h1', docker: 'unix:///run/a.sock' }] }]`)},
		"policy/p.jsonnet": {Data: []byte(`{ tenants: [{ name: 'cs', paths: ['environments/**'], images: ['*'],
			quota: { containers: 10, cpus: 4, memory: '2Gi', volumes: 4 } }] }`)},
		// Two environments: 4 + 4 containers at the default 0.5 CPU and 256Mi,
		// 4 + 1 volumes; the spring one ends before the fall one starts.
		"environments/spring.jsonnet": {Data: []byte(`{ name: 'spring', active: { until: '2027-06-01' },
			groups: [{ name: 'ws', image: 'b', replicas: 4, volumes: [{ name: 'home', path: '/home' }] }] }`)},
		"environments/fall.jsonnet": {Data: []byte(`{ name: 'fall', active: { from: '2027-05-01' },
			groups: [{ name: 'ws', image: 'b', replicas: 4, volumes: [{ name: 'data', path: '/data', scope: 'environment' }] }] }`)},
	}
	topo, err := schema.Load(fsys, schema.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	at := func(day string) error {
		when, err := time.Parse(time.DateOnly, day)
		if err != nil {
			t.Fatal(err)
		}
		_, err = place.Place(topo, place.Options{Now: when})
		return err
	}
	if err := at("2027-04-01"); err != nil {
		t.Errorf("spring alone is within the quota: %v", err)
	}
	err = at("2027-05-15") // both active: 8 containers, 4 CPUs, 2Gi: at the limits; 5 volumes: over
	if err == nil || !strings.Contains(err.Error(), `tenant "cs": its active environments use 5 volumes, over its quota of 4 (tenants[cs].quota.volumes)`) ||
		!strings.Contains(err.Error(), "policy/p.jsonnet:1:") {
		t.Errorf("both semesters at once: %v, want the volume quota naming the policy", err)
	}
	if strings.Contains(err.Error(), "containers") || strings.Contains(err.Error(), "CPUs") {
		t.Errorf("limits exactly reached are not over: %v", err)
	}
	if err := at("2027-07-01"); err != nil {
		t.Errorf("fall alone is within the quota: %v", err)
	}
}
