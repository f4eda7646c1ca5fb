// Package jupyter is a small client of the Jupyter Notebook server's REST
// and websocket APIs, for tests that check a notebook really computes:
// start a kernel and run code, open a terminal and run a command, call the
// contents API, all through a front door URL. Tests only.
package jupyter

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// call does one HTTP request; token, when set, goes into the Authorization header.
func Call(method, u, token string, body any) (int, []byte, http.Header, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		return 0, nil, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "token "+token)
	}
	cl := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

func WantStatus(want int) func(int, []byte, http.Header, error) error {
	return func(code int, body []byte, _ http.Header, err error) error {
		if err != nil {
			return err
		}
		if code != want {
			return fmt.Errorf("HTTP %d, want %d: %.200s", code, want, body)
		}
		return nil
	}
}

// dialWS opens a websocket to path through the front door with an Origin
// header, the token (if any) in the Authorization header, and more headers
// as name, value pairs. The handshake of a kernel's channels waits until the
// kernel answers, which takes seconds on a loaded machine.
func DialWS(door, path, token, origin string, header ...string) (*websocket.Conn, error) {
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

// Execution is what a kernel said for one execute_request.
type Execution struct {
	Result string // text/plain of the execute_result
	Stdout string
}

// runCode starts a kernel in user's notebook server through the front door,
// runs code over the kernel's websocket (Jupyter messaging protocol 5.3,
// JSON over the channels websocket) and shuts the kernel down.
func RunCode(door, user, token, code string) (Execution, error) {
	var out Execution
	api := door + "/user/" + user + "/api/kernels"
	st, body, _, err := Call("POST", api, token, map[string]string{"name": "python3"})
	if err := WantStatus(201)(st, body, nil, err); err != nil {
		return out, fmt.Errorf("start kernel: %w", err)
	}
	var k struct{ ID string }
	if err := json.Unmarshal(body, &k); err != nil || k.ID == "" {
		return out, fmt.Errorf("start kernel: %q: %v", body, err)
	}
	defer Call("DELETE", api+"/"+k.ID, token, nil)

	session := NewID()
	ws, err := DialWS(door, "/user/"+user+"/api/kernels/"+k.ID+"/channels?session_id="+session, token, door)
	if err != nil {
		return out, fmt.Errorf("kernel websocket: %w", err)
	}
	defer ws.Close()
	msgID := NewID()
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
			out.Result, _ = m.Content.Data["text/plain"].(string)
		case "stream":
			if m.Content.Name == "stdout" {
				out.Stdout += m.Content.Text
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
func RunTerminal(door, user, token, cmd, want string) (string, error) {
	api := door + "/user/" + user + "/api/terminals"
	st, body, _, err := Call("POST", api, token, nil)
	if err := WantStatus(200)(st, body, nil, err); err != nil {
		return "", fmt.Errorf("new terminal: %w", err)
	}
	var term struct{ Name string }
	if err := json.Unmarshal(body, &term); err != nil || term.Name == "" {
		return "", fmt.Errorf("new terminal: %q: %v", body, err)
	}
	defer Call("DELETE", api+"/"+term.Name, token, nil)
	ws, err := DialWS(door, "/user/"+user+"/terminals/websocket/"+term.Name, token, door)
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

func NewID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Eventually retries f every 200 ms until it returns nil or d passes.
func Eventually(t testing.TB, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, d, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
