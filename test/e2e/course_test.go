package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rensei-dev/rensei/test/jupyter"
	"github.com/rensei-dev/rensei/test/lab"
	"github.com/rensei-dev/rensei/test/lab/labtest"
)

// courseRepo is a config repository with the lab's sites and a course of
// the given students over site-a and site-b, its front door at site-c.
type courseRepo struct {
	dir, secrets, env string
	sites             string // Jsonnet array of the notebooks' sites
	extra             string // more arguments of t.course
}

func newCourseRepo(t testing.TB, env string, students []string) *courseRepo {
	t.Helper()
	r := &courseRepo{dir: t.TempDir(), secrets: t.TempDir(), env: env, sites: "['site-a', 'site-b']",
		extra: "cpus=0.2,\n  memory='256Mi',\n  dataset={ 'hello.txt': 'hello dataset\\n' },\n  pages={ 'syllabus.html': '<h1>Syllabus</h1>\\n' },"}
	sites, err := os.ReadFile(filepath.Join(repoRoot, "site-configs", "lab.jsonnet"))
	if err != nil {
		t.Fatal(err)
	}
	r.write(t, "sites/lab.jsonnet", string(sites))
	r.setRoster(t, students)
	if err := os.WriteFile(filepath.Join(r.secrets, "notebook"), []byte("course-master-"+env+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *courseRepo) write(t testing.TB, rel, content string) {
	t.Helper()
	p := filepath.Join(r.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// setRoster writes the course file: the lecturer's whole course.
func (r *courseRepo) setRoster(t testing.TB, students []string) {
	t.Helper()
	q := make([]string, len(students))
	for i, s := range students {
		q[i] = "'" + s + "'"
	}
	r.write(t, "environments/course.jsonnet", `local t = import 'templates.libsonnet';

t.course(
  '`+r.env+`',
  title='Test course',
  roster=[`+strings.Join(q, ", ")+`],
  sites=`+r.sites+`,
  frontDoor={ site: 'site-c', port: 8080 },
  subnet='198.19.80.0/22',
  active={ from: '2020-01-01', until: '2100-01-01' },
  `+r.extra+`
)
`)
}

func (r *courseRepo) rensei(t testing.TB, want int, args ...string) result {
	t.Helper()
	return mustRensei(t, want, append(args, "--secrets-dir", r.secrets, r.dir)...)
}

// member is a row of rensei access -o json.
type member struct {
	Member, URL, Token, Site, Host, State, Container string
}

func (r *courseRepo) access(t testing.TB) map[string]member {
	t.Helper()
	out := r.rensei(t, 0, "access", "--env", r.env, "-o", "json")
	var rows []member
	if err := json.Unmarshal([]byte(out.stdout), &rows); err != nil {
		t.Fatalf("access -o json: %v", err)
	}
	m := map[string]member{}
	for _, row := range rows {
		m[row.Member] = row
	}
	return m
}

// testWriter sends a logger's lines to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// wanClient gives this machine the address 198.18.0.<last> on the lab's
// WAN (a veth rs-wc<last> into the WAN bridge) for the test's life:
// requests then reach published ports the way a student's browser, or any
// user outside the sites, would.
func wanClient(t testing.TB, last int) {
	t.Helper()
	root, peer := fmt.Sprintf("rs-wc%d", last), fmt.Sprintf("rs-wc%dp", last)
	command("ip", "link", "del", root) // left by a killed run
	must(t, "ip", "link", "add", root, "type", "veth", "peer", "name", peer, "netns", "rs-lab-wan")
	t.Cleanup(func() { command("ip", "link", "del", root) })
	must(t, "ip", "-n", "rs-lab-wan", "link", "set", peer, "master", lab.WANBridge, "up")
	must(t, "ip", "addr", "add", fmt.Sprintf("198.18.0.%d/24", last), "dev", root)
	must(t, "ip", "link", "set", root, "up")
}

// containerID is a container's ID on a lab site engine ("" when absent).
func containerID(t *testing.T, docker, name string) string {
	out, err := command("docker", "-H", docker, "inspect", "-f", "{{.Id}}", name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// TestCourse applies the course template to the lab: three students whose
// notebook servers run at site-a and site-b, the front door at site-c. Through
// the front door, from the WAN side, each student's token opens their own
// server and a kernel computes; other tokens are refused; the dataset is
// there and read-only; a file in a home survives the container being
// replaced; adding a student changes only that student's server and the
// front door; a headless browser sees the notebook list; when the window
// closes everything goes and every home is kept.
func TestCourse(t *testing.T) {
	st := labtest.ForTest(t, 3)
	docker := map[string]string{}
	for _, s := range st.Sites {
		docker[s.Name+"/docker"] = s.Docker
	}
	loadImages(t, "notebook", "frontdoor")
	wanClient(t, 200)
	students := []string{"ann", "bob", "cho"}
	r := newCourseRepo(t, "cs-test", students)
	start := time.Now()
	r.rensei(t, 0, "apply", "--yes")
	applied := time.Since(start)
	acc := r.access(t)
	door := "http://198.18.0.3:8080"
	for _, s := range students {
		a := acc[s]
		if a.URL != door+"/user/"+s+"/" || len(a.Token) != 32 || a.State != "running" {
			t.Fatalf("access row of %s: %+v", s, a)
		}
		jupyter.Eventually(t, 3*time.Minute, s+"'s server through the front door", func() error {
			return jupyter.WantStatus(200)(jupyter.Call("GET", a.URL+"api/status", a.Token, nil))
		})
	}
	t.Logf("3 students: apply %s, every server answering through the front door %s after the apply started",
		applied.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	sites := map[string]bool{}
	for _, a := range acc {
		sites[a.Site] = true
	}
	if !sites["site-a"] || !sites["site-b"] {
		t.Errorf("students run at %v: want site-a and site-b both (reaching the front door at site-c)", sites)
	}

	t.Run("tokens", func(t *testing.T) {
		ann, bob := acc["ann"], acc["bob"]
		for _, c := range []struct {
			what, url, token string
			want             int
		}{
			{"ann's token", ann.URL + "api/status", ann.Token, 200},
			{"bob's token on ann's server", ann.URL + "api/status", bob.Token, 403},
			{"no token", ann.URL + "api/contents", "", 403},
			{"a student not on the roster", door + "/user/dan/api/status", ann.Token, 404},
			{"the course page", door + "/", "", 200},
			{"a published page", door + "/syllabus.html", "", 200},
		} {
			if err := jupyter.WantStatus(c.want)(jupyter.Call("GET", c.url, c.token, nil)); err != nil {
				t.Errorf("%s: %v", c.what, err)
			}
		}
		_, page, _, err := jupyter.Call("GET", door+"/", "", nil)
		if err != nil || !strings.Contains(string(page), "Test course") || !strings.Contains(string(page), "syllabus.html") || strings.Contains(string(page), ann.Token) {
			t.Errorf("course page (err %v):\n%s", err, page)
		}
	})

	t.Run("kernel", func(t *testing.T) {
		for _, s := range students {
			out, err := jupyter.RunCode(door, s, acc[s].Token, "import os, socket\nprint(socket.gethostname(), os.getuid())\n1+1")
			if err != nil {
				t.Fatalf("%s: %v", s, err)
			}
			if out.Result != "2" || !strings.Contains(out.Stdout, "nb-"+s+" 1000") {
				t.Errorf("%s's kernel: result %q, stdout %q", s, out.Result, out.Stdout)
			}
		}
		out, err := jupyter.RunTerminal(door, "ann", acc["ann"].Token, "echo rensei-$((6*7)) $(hostname)", "rensei-42 nb-ann")
		if err != nil {
			t.Errorf("ann's terminal: %v: %q", err, out)
		}
	})

	t.Run("dataset", func(t *testing.T) {
		ann := acc["ann"]
		st, body, _, err := jupyter.Call("GET", ann.URL+"api/contents/dataset/hello.txt?content=1", ann.Token, nil)
		if err != nil || st != 200 || !strings.Contains(string(body), `hello dataset`) {
			t.Errorf("dataset file through the contents API: %d %v %.200s", st, err, body)
		}
		st, body, _, err = jupyter.Call("PUT", ann.URL+"api/contents/dataset/mine.txt", ann.Token, map[string]string{"type": "file", "format": "text", "content": "x"})
		if err == nil && st < 400 {
			t.Errorf("writing into the read-only dataset: %d %.200s", st, body)
		}
	})

	t.Run("home survives replacement", func(t *testing.T) {
		bob := acc["bob"]
		note := "bob's notes " + time.Now().Format(time.RFC3339Nano)
		if err := jupyter.WantStatus(201)(jupyter.Call("PUT", bob.URL+"api/contents/notes.txt", bob.Token, map[string]string{"type": "file", "format": "text", "content": note})); err != nil {
			t.Fatalf("write notes.txt: %v", err)
		}
		old := containerID(t, docker[bob.Host], bob.Container)
		must(t, "docker", "-H", docker[bob.Host], "rm", "-f", bob.Container)
		r.rensei(t, 0, "apply", "--yes")
		if now := containerID(t, docker[bob.Host], bob.Container); now == "" || now == old {
			t.Fatalf("bob's server was not replaced: %q → %q", old, now)
		}
		jupyter.Eventually(t, 2*time.Minute, "bob's new server", func() error {
			return jupyter.WantStatus(200)(jupyter.Call("GET", bob.URL+"api/status", bob.Token, nil))
		})
		_, body, _, err := jupyter.Call("GET", bob.URL+"api/contents/notes.txt?content=1", bob.Token, nil)
		if err != nil || !strings.Contains(string(body), note) {
			t.Errorf("notes.txt after the replacement: %v %.200s", err, body)
		}
	})

	t.Run("browser", func(t *testing.T) {
		ann := acc["ann"]
		shot := browse(t, ann.URL+"tree?token="+ann.Token, "#notebook_list", "dataset")
		t.Logf("screenshot of ann's notebook list: %s", shot)
	})

	t.Run("add a student", func(t *testing.T) {
		before := map[string]string{}
		for _, s := range students {
			before[s] = containerID(t, docker[acc[s].Host], acc[s].Container)
		}
		r.setRoster(t, append(slices.Clone(students), "dan"))
		plan := r.rensei(t, 0, "plan", "-o", "json")
		var p struct {
			Steps []struct{ Host, Kind, Name, Action string }
		}
		if err := json.Unmarshal([]byte(plan.stdout), &p); err != nil {
			t.Fatal(err)
		}
		var changes []string
		for _, s := range p.Steps {
			if s.Action != "keep" && s.Action != "skip" {
				changes = append(changes, s.Action+" "+s.Kind+" "+s.Name)
			}
		}
		slices.Sort(changes)
		want := []string{"create container cs-test_nb_dan", "create volume cs-test_nb_dan_home", "replace container cs-test_door_0"}
		if strings.Join(changes, "\n") != strings.Join(want, "\n") {
			t.Errorf("adding dan plans:\n%s\nwant:\n%s", strings.Join(changes, "\n"), strings.Join(want, "\n"))
		}
		r.rensei(t, 0, "apply", "--yes")
		for _, s := range students {
			if now := containerID(t, docker[acc[s].Host], acc[s].Container); now != before[s] {
				t.Errorf("%s's server changed: %s → %s", s, before[s], now)
			}
		}
		dan := r.access(t)["dan"]
		jupyter.Eventually(t, 3*time.Minute, "dan's server through the front door", func() error {
			return jupyter.WantStatus(200)(jupyter.Call("GET", dan.URL+"api/status", dan.Token, nil))
		})
	})

	t.Run("window closes", func(t *testing.T) {
		r.rensei(t, 0, "apply", "--yes", "--at", "2100-01-02")
		for key, d := range docker {
			if out := strings.TrimSpace(must(t, "docker", "-H", d, "ps", "-aq", "--filter", "label=io.rensei.env=cs-test")); out != "" {
				t.Errorf("%s still has containers of the course after its window closed: %s", key, out)
			}
		}
		for _, s := range append(slices.Clone(students), "dan") {
			home := "cs-test_nb_" + s + "_home"
			found := false
			for _, d := range docker {
				if _, err := command("docker", "-H", d, "volume", "inspect", home); err == nil {
					found = true
				}
			}
			if !found {
				t.Errorf("%s is gone after the window closed", home)
			}
		}
	})
}

// browse loads url in Debian's chromium (headless, through chromedp),
// waits until selector is visible and holds text, and saves a screenshot
// under $RENSEI_ARTIFACTS (default: the test's temporary directory). It
// returns the screenshot's path.
func browse(t *testing.T, url, selector, text string) string {
	t.Helper()
	exe, err := findChromium()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (CI=true: a missing prerequisite is a failure)", err)
		}
		t.Skip(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.Flag("no-sandbox", true),
		chromedp.Flag("headless", "new"), chromedp.Flag("window-size", "1280,800"), chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(selector))); err != nil {
		t.Fatalf("chromium at %s: %v", url, err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`document.querySelector(%q).innerText.includes(%q)`, selector, text), chromedp.WithPollingTimeout(time.Minute))); err != nil {
		t.Errorf("chromium at %s: %s never showed %q: %v", url, selector, text, err)
	}
	list, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(selector)))
	if err != nil {
		t.Fatalf("chromium: text of %s: %v", selector, err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatalf("chromium: screenshot: %v", err)
	}
	if !strings.Contains(list, text) {
		t.Errorf("%s shows %q, want %q in it", selector, list, text)
	}
	dir := os.Getenv("RENSEI_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// findChromium is Debian's chromium (package chromium).
func findChromium() (string, error) {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("chromium is not installed (apt-get install chromium)")
}
