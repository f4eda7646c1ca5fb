package images

import (
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/rensei-dev/rensei/test/jupyter"
)

// lbConf is what Rensei would place into rensei/lb for a service of two web
// instances: one server line per instance, found through Docker's DNS.
const lbConf = `global
	log stdout format raw local0 info
	user haproxy
	group haproxy

resolvers docker
	nameserver dns 127.0.0.11:53
	resolve_retries 3
	timeout resolve 1s
	timeout retry 1s
	hold valid 5s
	hold nx 2s
	hold obsolete 2s

defaults
	mode http
	log global
	option httplog
	timeout connect 1s
	timeout client 30s
	timeout server 3s
	default-server check inter 1s fall 2 rise 2 resolvers docker init-addr last,libc,none

frontend stats
	bind :8404
	stats enable
	stats uri /stats

frontend web
	bind :80
	default_backend web

backend web
	balance roundrobin
	option httpchk GET /healthz
	http-check expect status 200
	retry-on all-retryable-errors
	retries 3
	option redispatch 1
	server web1 web1:80
	server web2 web2:80
`

// serverStates reads the stats page's CSV: server name → status and last check.
func serverStates(stats string) (map[string]string, error) {
	code, body, _, err := jupyter.Call("GET", stats+"/stats;csv", "", nil)
	if err := jupyter.WantStatus(200)(code, body, nil, err); err != nil {
		return nil, err
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(body), "# ")))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("stats csv: %v", err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	states := map[string]string{}
	for _, row := range rows[1:] {
		if row[col["pxname"]] == "web" && row[col["svname"]] != "BACKEND" {
			states[row[col["svname"]]] = row[col["status"]] + " " + row[col["check_status"]]
		}
	}
	return states, nil
}

func waitState(t *testing.T, stats, server, prefix string) string {
	t.Helper()
	var got string
	start := time.Now()
	jupyter.Eventually(t, 60*time.Second, server+" "+prefix, func() error {
		states, err := serverStates(stats)
		if err != nil {
			return err
		}
		got = states[server]
		if !strings.HasPrefix(got, prefix) {
			return fmt.Errorf("%s is %q", server, got)
		}
		return nil
	})
	t.Logf("%s: %q after %s", server, got, time.Since(start).Round(10*time.Millisecond))
	return got
}

// fetch does n requests and counts the pages served; any answer but 200 fails.
func fetch(t *testing.T, u string, n int) (map[string]int, time.Duration) {
	t.Helper()
	seen := map[string]int{}
	var slowest time.Duration
	for i := 0; i < n; i++ {
		start := time.Now()
		code, body, _, err := jupyter.Call("GET", u, "", nil)
		if d := time.Since(start); d > slowest {
			slowest = d
		}
		if err != nil || code != 200 {
			t.Fatalf("request %d: HTTP %d %v: %.200s", i, code, err, body)
		}
		seen[strings.TrimSpace(string(body))]++
	}
	return seen, slowest
}

func TestLoadBalancer(t *testing.T) {
	s := newSandbox(t)
	ctx := context.Background()

	// haproxy starts before its backends exist.
	lb := s.run(box{name: "lb", image: "rensei/lb:latest", files: map[string]string{"/etc/haproxy/haproxy.cfg": lbConf},
		publish: []string{"80/tcp", "8404/tcp"}})
	front, stats := s.hostURL(lb, "80/tcp"), s.hostURL(lb, "8404/tcp")
	jupyter.Eventually(t, 20*time.Second, "haproxy stats", func() error { _, err := serverStates(stats); return err })
	if code, _, _, _ := jupyter.Call("GET", front+"/", "", nil); code != 503 {
		t.Errorf("no backend up: HTTP %d, want 503", code)
	}

	web := map[string]string{}
	for _, n := range []string{"web1", "web2"} {
		web[n] = s.run(box{name: n, image: "rensei/web:latest", aliases: []string{"web"},
			files: map[string]string{"/srv/www/index.html": "page from " + n + "\n"}})
	}
	waitState(t, stats, "web1", "UP L7OK")
	waitState(t, stats, "web2", "UP L7OK")
	if seen, _ := fetch(t, front+"/", 10); seen["page from web1"] != 5 || seen["page from web2"] != 5 {
		t.Errorf("both up, round robin: %v", seen)
	}

	// Stopped: its address is gone; retries go to web1.
	if err := s.cli.ContainerStop(ctx, web["web2"], container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	seen, slowest := fetch(t, front+"/", 20)
	if seen["page from web1"] != 20 {
		t.Errorf("web2 stopped: %v", seen)
	}
	t.Logf("web2 stopped: 20 requests answered by web1, slowest %s", slowest.Round(time.Millisecond))
	var down string
	jupyter.Eventually(t, 30*time.Second, "web2 out of service", func() error {
		states, err := serverStates(stats)
		if err != nil {
			return err
		}
		if down = states["web2"]; strings.HasPrefix(down, "UP") {
			return fmt.Errorf("web2 is %q", down)
		}
		return nil
	})
	t.Logf("web2 stopped: stats say %q", down)

	if err := s.cli.ContainerStart(ctx, web["web2"], container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	waitState(t, stats, "web2", "UP L7OK")
	if seen, _ := fetch(t, front+"/", 10); seen["page from web2"] == 0 {
		t.Errorf("web2 started again, not used: %v", seen)
	}

	// Paused: its name still resolves and its kernel still accepts
	// connections, so only the health check can take it out.
	if err := s.cli.ContainerPause(ctx, web["web2"]); err != nil {
		t.Fatal(err)
	}
	down = waitState(t, stats, "web2", "DOWN")
	if seen, _ := fetch(t, front+"/", 10); seen["page from web1"] != 10 {
		t.Errorf("web2 paused and DOWN: %v", seen)
	}
	if err := s.cli.ContainerUnpause(ctx, web["web2"]); err != nil {
		t.Fatal(err)
	}
	waitState(t, stats, "web2", "UP L7OK")
	if seen, _ := fetch(t, front+"/", 10); seen["page from web2"] == 0 {
		t.Errorf("web2 unpaused, not used: %v", seen)
	}

	// The image's own configuration balances over every container with the
	// network alias "web".
	lb2 := s.run(box{name: "lb-default", image: "rensei/lb:latest", publish: []string{"80/tcp"}})
	front2 := s.hostURL(lb2, "80/tcp")
	jupyter.Eventually(t, 60*time.Second, "default configuration serves both", func() error {
		code, body, _, err := jupyter.Call("GET", front2+"/", "", nil)
		if err := jupyter.WantStatus(200)(code, body, nil, err); err != nil {
			return err
		}
		seen, _ := fetch(t, front2+"/", 10)
		if seen["page from web1"] == 0 || seen["page from web2"] == 0 {
			return fmt.Errorf("served %v", seen)
		}
		return nil
	})
}
