package images

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"golang.org/x/net/websocket"

	"github.com/rensei-dev/rensei/test/jupyter"
)

// The tests in this file run a course (front door and notebook servers) as
// plain containers on a Docker network of their own (sandbox_test.go) and
// check that the software does its job: a kernel computes, a terminal runs
// commands, the front door keeps students apart and passes websockets, and a
// home directory outlives its container. lb_test.go does the same for the
// load balancer.

// frontDoorConf is the site a course's front door runs: /user/<id>/ goes to
// that student's notebook server, only for students of the roster.
func frontDoorConf(students ...string) string {
	var m strings.Builder
	for _, s := range students {
		fmt.Fprintf(&m, "\t%s nb-%s;\n", s, s)
	}
	return `map $user $notebook {
	default "";
` + m.String() + `}
server {
	listen 80 default_server;
	root /srv/www;
	location = /healthz {
		access_log off;
		default_type text/plain;
		return 200 "ok\n";
	}
	location ~ ^/user/(?<user>[a-z0-9][a-z0-9-]*)$ {
		return 302 $uri/;
	}
	location ~ ^/user/(?<user>[a-z0-9][a-z0-9-]*)/ {
		if ($notebook = "") {
			return 404;
		}
		proxy_pass http://$notebook:8888;
		include snippets/rensei-proxy.conf;
	}
	location / {
		try_files $uri $uri/ =404;
	}
}
`
}

func notebookBox(user, token string) box {
	return box{
		name:   "nb-" + user,
		image:  "rensei/notebook:latest",
		env:    []string{"NOTEBOOK_TOKEN=" + token, "NOTEBOOK_BASE_URL=/user/" + user + "/"},
		volume: "home-" + user + ":/home/student",
	}
}

func TestNotebookRefusesToStartWithoutToken(t *testing.T) {
	s := newSandbox(t)
	id := s.run(box{name: "nb-notoken", image: "rensei/notebook:latest"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch, errc := s.cli.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case r := <-ch:
		if r.StatusCode != 64 {
			t.Errorf("exit status %d, want 64", r.StatusCode)
		}
	case err := <-errc:
		t.Fatal(err)
	}
	if logs := s.logs(id); !strings.Contains(logs, "refusing to start without a token") {
		t.Errorf("logs: %q", logs)
	}
}

func TestCourseThroughFrontDoor(t *testing.T) {
	s := newSandbox(t)
	tokens := map[string]string{"alice": "alice-" + s.id, "bob": "bob-" + s.id}

	// The front door starts first: its backends do not exist yet.
	fd := s.run(box{
		name:    "frontdoor",
		image:   "rensei/frontdoor:latest",
		files:   map[string]string{"/etc/nginx/conf.d/rensei.conf": frontDoorConf("alice", "bob"), "/srv/www/index.html": "<h1>CS101</h1>\n"},
		publish: []string{"80/tcp"},
	})
	door := s.hostURL(fd, "80/tcp")
	jupyter.Eventually(t, 20*time.Second, "front door /healthz", func() error { return jupyter.WantStatus(200)(jupyter.Call("GET", door+"/healthz", "", nil)) })
	if err := jupyter.WantStatus(502)(jupyter.Call("GET", door+"/user/alice/api/status", tokens["alice"], nil)); err != nil {
		t.Errorf("alice before her server exists: %v", err)
	}

	start := time.Now()
	nb := map[string]string{}
	for _, u := range []string{"alice", "bob"} {
		nb[u] = s.run(notebookBox(u, tokens[u]))
	}
	for _, u := range []string{"alice", "bob"} {
		jupyter.Eventually(t, 60*time.Second, u+"'s notebook through the front door", func() error {
			return jupyter.WantStatus(200)(jupyter.Call("GET", door+"/user/"+u+"/api/status", tokens[u], nil))
		})
	}
	t.Logf("two notebook servers answer through the front door %s after their start", time.Since(start).Round(10*time.Millisecond))

	t.Run("auth", func(t *testing.T) {
		alice := door + "/user/alice"
		for _, c := range []struct {
			what  string
			url   string
			token string
			want  int
		}{
			{"alice's token in the header", alice + "/api/status", tokens["alice"], 200},
			{"alice's token in the query", alice + "/api/status?token=" + url.QueryEscape(tokens["alice"]), "", 200},
			{"bob's token in the header", alice + "/api/status", tokens["bob"], 403},
			{"bob's token in the query", alice + "/api/status?token=" + url.QueryEscape(tokens["bob"]), "", 403},
			{"no token", alice + "/api/status", "", 403},
			{"no token, contents", alice + "/api/contents", "", 403},
			{"no token, a page", alice + "/tree", "", 302},
			{"bob's token, a page", alice + "/tree?token=" + url.QueryEscape(tokens["bob"]), "", 302},
			{"a student not on the roster", door + "/user/carol/api/status", "", 404},
			{"the front door's own page", door + "/", "", 200},
			{"no trailing slash", alice, "", 302},
		} {
			code, body, h, err := jupyter.Call("GET", c.url, c.token, nil)
			if err != nil {
				t.Fatal(err)
			}
			if code != c.want {
				t.Errorf("%s: HTTP %d, want %d: %.200s", c.what, code, c.want, body)
			}
			if code == 302 && c.what == "no token, a page" && !strings.HasPrefix(h.Get("Location"), "/user/alice/login?next=") {
				t.Errorf("%s: Location %q, want /user/alice/login?next=...", c.what, h.Get("Location"))
			}
			if code == 302 && c.what == "no trailing slash" && h.Get("Location") != "/user/alice/" {
				t.Errorf("%s: Location %q, want /user/alice/", c.what, h.Get("Location"))
			}
		}
	})

	t.Run("kernel", func(t *testing.T) {
		out, err := jupyter.RunCode(door, "alice", tokens["alice"], "import os\nprint('uid', os.getuid())\n1+1")
		if err != nil {
			t.Fatal(err)
		}
		if out.Result != "2" || out.Stdout != "uid 1000\n" {
			t.Errorf("1+1: result %q stdout %q, want \"2\" and \"uid 1000\\n\"", out.Result, out.Stdout)
		}
	})

	t.Run("browser websocket origin", func(t *testing.T) {
		// A browser logs in once (the token as password) and then holds a
		// cookie; for cookie-authenticated websockets the notebook server
		// compares Origin with Host, which the front door passes unchanged.
		// (Token-authenticated requests skip the origin check by design.)
		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar, Timeout: 20 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		login := door + "/user/alice/login"
		resp, err := browser.Get(login)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		u, _ := url.Parse(login)
		var xsrf string
		for _, c := range jar.Cookies(u) {
			if c.Name == "_xsrf" {
				xsrf = c.Value
			}
		}
		resp, err = browser.PostForm(login+"?next=%2Fuser%2Falice%2Ftree", url.Values{"password": {tokens["alice"]}, "_xsrf": {xsrf}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 302 || resp.Header.Get("Location") != "/user/alice/tree" {
			t.Fatalf("login: HTTP %d to %q, want 302 to /user/alice/tree", resp.StatusCode, resp.Header.Get("Location"))
		}
		var cookies []string
		for _, c := range jar.Cookies(u) {
			cookies = append(cookies, c.Name+"="+c.Value)
		}
		code, body, _, err := jupyter.Call("POST", door+"/user/alice/api/kernels", tokens["alice"], map[string]string{"name": "python3"})
		if err := jupyter.WantStatus(201)(code, body, nil, err); err != nil {
			t.Fatal(err)
		}
		var k struct{ ID string }
		_ = json.Unmarshal(body, &k)
		defer jupyter.Call("DELETE", door+"/user/alice/api/kernels/"+k.ID, tokens["alice"], nil)
		for _, c := range []struct {
			origin string
			ok     bool
		}{
			{door, true},
			{"http://evil.example", false},
			// What a proxy that sets Host without the port (nginx's $host) makes of it.
			{strings.TrimSuffix(door, door[strings.LastIndex(door, ":"):]), false},
		} {
			// A new session ID each time: notebook 6.4 keeps a refused
			// websocket's session registered, and a later connection
			// with the same session ID waits for it forever.
			path := "/user/alice/api/kernels/" + k.ID + "/channels?session_id=" + jupyter.NewID()
			ws, err := jupyter.DialWS(door, path, "", c.origin, "Cookie", strings.Join(cookies, "; "))
			if c.ok && err != nil {
				t.Errorf("cookie, Origin %s: %v", c.origin, err)
			}
			var de *websocket.DialError
			if !c.ok && !(errors.As(err, &de) && de.Err == websocket.ErrBadStatus) {
				t.Errorf("cookie, Origin %s: %v, want refused", c.origin, err)
			}
			if ws != nil {
				ws.Close()
			}
		}
	})

	t.Run("terminal", func(t *testing.T) {
		got, err := jupyter.RunTerminal(door, "alice", tokens["alice"], "echo rensei-$((6*7)) uid=$(id -u) home=$HOME", "rensei-42 uid=1000 home=/home/student")
		if err != nil {
			t.Fatalf("%v\noutput: %q", err, got)
		}
	})

	t.Run("home survives the container", func(t *testing.T) {
		content := "written by alice at " + time.Now().Format(time.RFC3339Nano) + "\n"
		file := door + "/user/alice/api/contents/persist.txt"
		if err := jupyter.WantStatus(201)(jupyter.Call("PUT", file, tokens["alice"], map[string]string{"type": "file", "format": "text", "content": content})); err != nil {
			t.Fatal(err)
		}
		s.remove(nb["alice"])
		nb["alice"] = s.run(notebookBox("alice", tokens["alice"]))
		var got struct{ Content string }
		jupyter.Eventually(t, 60*time.Second, "alice's file after a new container", func() error {
			code, body, _, err := jupyter.Call("GET", file+"?type=file&format=text&content=1", tokens["alice"], nil)
			if err := jupyter.WantStatus(200)(code, body, nil, err); err != nil {
				return err
			}
			return json.Unmarshal(body, &got)
		})
		if got.Content != content {
			t.Errorf("after replacing the container: %q, want %q", got.Content, content)
		}
		if code, _, _, _ := jupyter.Call("GET", door+"/user/bob/api/contents/persist.txt", tokens["bob"], nil); code != 404 {
			t.Errorf("bob sees alice's file: HTTP %d", code)
		}
	})

	t.Run("no token in any log", func(t *testing.T) {
		for name, id := range map[string]string{"front door": fd, "alice": nb["alice"], "bob": nb["bob"]} {
			logs := s.logs(id)
			for _, tok := range tokens {
				if strings.Contains(logs, tok) {
					t.Errorf("%s's log shows a token:\n%s", name, logs)
				}
			}
		}
	})

	t.Run("idle memory", func(t *testing.T) {
		// bob's server has served a few API calls and runs no kernel.
		mem, err := memory(s.cli, nb["bob"])
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("idle notebook server (bob): %s", mem)
	})
}

// memory reports a container's memory as docker stats does (usage less
// inactive file cache) and its anonymous memory (the processes' resident
// heap and stacks).
func memory(cli *client.Client, id string) (string, error) {
	st, err := cli.ContainerStatsOneShot(context.Background(), id)
	if err != nil {
		return "", err
	}
	defer st.Body.Close()
	var v container.StatsResponse
	if err := json.NewDecoder(st.Body).Decode(&v); err != nil {
		return "", err
	}
	m := v.MemoryStats
	inactive := m.Stats["inactive_file"]
	if x, ok := m.Stats["total_inactive_file"]; ok {
		inactive = x
	}
	anon := m.Stats["anon"]
	if x, ok := m.Stats["rss"]; ok {
		anon = x
	}
	return fmt.Sprintf("docker stats %.1f MiB, anon %.1f MiB", float64(m.Usage-inactive)/(1<<20), float64(anon)/(1<<20)), nil
}
