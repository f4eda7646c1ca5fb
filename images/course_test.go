package images

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	eventually(t, 20*time.Second, "front door /healthz", func() error { return wantStatus(200)(call("GET", door+"/healthz", "", nil)) })
	if err := wantStatus(502)(call("GET", door+"/user/alice/api/status", tokens["alice"], nil)); err != nil {
		t.Errorf("alice before her server exists: %v", err)
	}

	start := time.Now()
	nb := map[string]string{}
	for _, u := range []string{"alice", "bob"} {
		nb[u] = s.run(notebookBox(u, tokens[u]))
	}
	for _, u := range []string{"alice", "bob"} {
		eventually(t, 60*time.Second, u+"'s notebook through the front door", func() error {
			return wantStatus(200)(call("GET", door+"/user/"+u+"/api/status", tokens[u], nil))
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
			code, body, h, err := call("GET", c.url, c.token, nil)
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
		out, err := runCode(door, "alice", tokens["alice"], "import os\nprint('uid', os.getuid())\n1+1")
		if err != nil {
			t.Fatal(err)
		}
		if out.result != "2" || out.stdout != "uid 1000\n" {
			t.Errorf("1+1: result %q stdout %q, want \"2\" and \"uid 1000\\n\"", out.result, out.stdout)
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
		code, body, _, err := call("POST", door+"/user/alice/api/kernels", tokens["alice"], map[string]string{"name": "python3"})
		if err := wantStatus(201)(code, body, nil, err); err != nil {
			t.Fatal(err)
		}
		var k struct{ ID string }
		_ = json.Unmarshal(body, &k)
		defer call("DELETE", door+"/user/alice/api/kernels/"+k.ID, tokens["alice"], nil)
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
			path := "/user/alice/api/kernels/" + k.ID + "/channels?session_id=" + newID()
			ws, err := dialWS(door, path, "", c.origin, "Cookie", strings.Join(cookies, "; "))
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
		got, err := runTerminal(door, "alice", tokens["alice"], "echo rensei-$((6*7)) uid=$(id -u) home=$HOME", "rensei-42 uid=1000 home=/home/student")
		if err != nil {
			t.Fatalf("%v\noutput: %q", err, got)
		}
	})

	t.Run("home survives the container", func(t *testing.T) {
		content := "written by alice at " + time.Now().Format(time.RFC3339Nano) + "\n"
		file := door + "/user/alice/api/contents/persist.txt"
		if err := wantStatus(201)(call("PUT", file, tokens["alice"], map[string]string{"type": "file", "format": "text", "content": content})); err != nil {
			t.Fatal(err)
		}
		s.remove(nb["alice"])
		nb["alice"] = s.run(notebookBox("alice", tokens["alice"]))
		var got struct{ Content string }
		eventually(t, 60*time.Second, "alice's file after a new container", func() error {
			code, body, _, err := call("GET", file+"?type=file&format=text&content=1", tokens["alice"], nil)
			if err := wantStatus(200)(code, body, nil, err); err != nil {
				return err
			}
			return json.Unmarshal(body, &got)
		})
		if got.Content != content {
			t.Errorf("after replacing the container: %q, want %q", got.Content, content)
		}
		if code, _, _, _ := call("GET", door+"/user/bob/api/contents/persist.txt", tokens["bob"], nil); code != 404 {
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

// dialWS opens a websocket to path through the front door with an Origin
// header, the token (if any) in the Authorization header, and more headers
// as name, value pairs. The handshake of a kernel's channels waits until the
// kernel answers, which takes seconds on a loaded machine.
func dialWS(door, path, token, origin string, header ...string) (*websocket.Conn, error) {
	cfg, err := websocket.NewConfig("ws"+strings.TrimPrefix(door, "http")+path, origin)
	if err != nil {
		return nil, err
	}
	cfg.Header = http.Header{}
	if token != "" {
		cfg.Header.Set("Authorization", "token "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		cfg.Header.Set(header[i], header[i+1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	return cfg.DialContext(ctx)
}

type execution struct {
	result string // text/plain of the execute_result
	stdout string
}

// runCode starts a kernel in user's notebook server through the front door,
// runs code over the kernel's websocket (Jupyter messaging protocol 5.3,
// JSON over the channels websocket) and shuts the kernel down.
func runCode(door, user, token, code string) (execution, error) {
	var out execution
	api := door + "/user/" + user + "/api/kernels"
	st, body, _, err := call("POST", api, token, map[string]string{"name": "python3"})
	if err := wantStatus(201)(st, body, nil, err); err != nil {
		return out, fmt.Errorf("start kernel: %w", err)
	}
	var k struct{ ID string }
	if err := json.Unmarshal(body, &k); err != nil || k.ID == "" {
		return out, fmt.Errorf("start kernel: %q: %v", body, err)
	}
	defer call("DELETE", api+"/"+k.ID, token, nil)

	session := newID()
	ws, err := dialWS(door, "/user/"+user+"/api/kernels/"+k.ID+"/channels?session_id="+session, token, door)
	if err != nil {
		return out, fmt.Errorf("kernel websocket: %w", err)
	}
	defer ws.Close()
	msgID := newID()
	req := map[string]any{
		"header": map[string]any{
			"msg_id": msgID, "session": session, "username": user, "msg_type": "execute_request",
			"version": "5.3", "date": time.Now().UTC().Format(time.RFC3339Nano),
		},
		"parent_header": map[string]any{},
		"metadata":      map[string]any{},
		"channel":       "shell",
		"buffers":       []any{},
		"content": map[string]any{
			"code": code, "silent": false, "store_history": false, "user_expressions": map[string]any{},
			"allow_stdin": false, "stop_on_error": true,
		},
	}
	if err := websocket.JSON.Send(ws, req); err != nil {
		return out, fmt.Errorf("send execute_request: %w", err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(60 * time.Second))
	var gotReply, gotIdle bool
	for !(gotReply && gotIdle) {
		var m struct {
			Channel string
			Header  struct {
				MsgType string `json:"msg_type"`
			}
			ParentHeader struct {
				MsgID string `json:"msg_id"`
			} `json:"parent_header"`
			Content struct {
				Status         string
				ExecutionState string `json:"execution_state"`
				Name, Text     string
				Data           map[string]any
				Ename, Evalue  string
			}
		}
		if err := websocket.JSON.Receive(ws, &m); err != nil {
			return out, fmt.Errorf("receive: %w", err)
		}
		if m.ParentHeader.MsgID != msgID {
			continue
		}
		switch m.Header.MsgType {
		case "execute_result":
			out.result, _ = m.Content.Data["text/plain"].(string)
		case "stream":
			if m.Content.Name == "stdout" {
				out.stdout += m.Content.Text
			}
		case "error":
			return out, fmt.Errorf("kernel: %s: %s", m.Content.Ename, m.Content.Evalue)
		case "execute_reply":
			if m.Content.Status != "ok" {
				return out, fmt.Errorf("execute_reply status %q", m.Content.Status)
			}
			gotReply = true
		case "status":
			gotIdle = gotIdle || m.Content.ExecutionState == "idle"
		}
	}
	return out, nil
}

// runTerminal opens a terminal in user's notebook server through the front
// door, types cmd into it over the terminal websocket and waits for want in
// the output, then deletes the terminal. It returns the output.
func runTerminal(door, user, token, cmd, want string) (string, error) {
	api := door + "/user/" + user + "/api/terminals"
	st, body, _, err := call("POST", api, token, nil)
	if err := wantStatus(200)(st, body, nil, err); err != nil {
		return "", fmt.Errorf("new terminal: %w", err)
	}
	var term struct{ Name string }
	if err := json.Unmarshal(body, &term); err != nil || term.Name == "" {
		return "", fmt.Errorf("new terminal: %q: %v", body, err)
	}
	defer call("DELETE", api+"/"+term.Name, token, nil)
	ws, err := dialWS(door, "/user/"+user+"/terminals/websocket/"+term.Name, token, door)
	if err != nil {
		return "", fmt.Errorf("terminal websocket: %w", err)
	}
	defer ws.Close()
	if err := websocket.JSON.Send(ws, []string{"stdin", cmd + "\r"}); err != nil {
		return "", err
	}
	_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	var output strings.Builder
	for !strings.Contains(output.String(), want) {
		var m []json.RawMessage
		if err := websocket.JSON.Receive(ws, &m); err != nil {
			return output.String(), fmt.Errorf("receive: %w", err)
		}
		var kind, text string
		if len(m) == 2 && json.Unmarshal(m[0], &kind) == nil && kind == "stdout" && json.Unmarshal(m[1], &text) == nil {
			output.WriteString(text)
		}
	}
	return output.String(), nil
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
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
