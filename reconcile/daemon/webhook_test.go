package daemon

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func sign(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

func TestWebhook(t *testing.T) {
	const secret = "hook-secret"
	const push = `{"ref":"refs/heads/main"}`
	const other = `{"ref":"refs/heads/feature"}`
	cases := []struct {
		name    string
		body    string
		headers map[string]string
		code    int
		woken   bool
		result  string
	}{
		{"github push", push, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(secret, push)}, 202, true, "github/accepted"},
		{"github bad signature", push, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign("wrong", push)}, 401, false, "github/rejected"},
		{"github no signature", push, map[string]string{"X-GitHub-Event": "push"}, 401, false, "github/rejected"},
		{"github ping", `{}`, map[string]string{"X-GitHub-Event": "ping", "X-Hub-Signature-256": "sha256=" + sign(secret, `{}`)}, 200, false, "github/ignored"},
		{"github other branch", other, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(secret, other)}, 200, false, "github/ignored"},
		{"gitlab push", push, map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret}, 202, true, "gitlab/accepted"},
		{"gitlab bad token", push, map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "nope"}, 401, false, "gitlab/rejected"},
		{"gitea push", push, map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": sign(secret, push)}, 202, true, "gitea/accepted"},
		{"gitea tampered body", push + " ", map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": sign(secret, push)}, 401, false, "gitea/rejected"},
		{"unknown sender", push, nil, 401, false, "unknown/rejected"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			woken := false
			var counted []string
			h := &Webhook{Secret: []byte(secret), Branch: "main", Wake: func() { woken = true },
				Count: func(p, r string) { counted = append(counted, p+"/"+r) }}
			req := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(tc.body))
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.code || woken != tc.woken || len(counted) != 1 || counted[0] != tc.result {
				t.Fatalf("code %d woken %v counted %v; want %d %v [%s]", rec.Code, woken, counted, tc.code, tc.woken, tc.result)
			}
		})
	}
	// Without a secret the endpoint is off.
	rec := httptest.NewRecorder()
	(&Webhook{}).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(push)))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("no secret: %d", rec.Code)
	}
}

func TestJitter(t *testing.T) {
	for range 100 {
		if j := jitter(DefaultInterval); j < 27e9 || j > 33e9 {
			t.Fatalf("jitter(30s) = %s", j)
		}
	}
}
