package daemon

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// maxWebhookBody bounds a delivery; push payloads are far smaller.
const maxWebhookBody = 1 << 20

// Webhook receives push events from GitHub (X-Hub-Signature-256: HMAC-SHA256
// of the body), GitLab (X-Gitlab-Token: the secret itself) and Gitea
// (X-Gitea-Signature: HMAC-SHA256, hex). A delivery with a bad or missing
// signature is rejected with 401 and counted; a good push to the watched
// branch (or one whose branch cannot be told) wakes the loop; other events
// (ping) are acknowledged and ignored.
type Webhook struct {
	Secret []byte
	Branch string
	Wake   func()
	// Count, when set, is told the provider and result of each delivery.
	Count func(provider, result string)
}

func (h *Webhook) count(provider, result string) {
	if h.Count != nil {
		h.Count(provider, result)
	}
}

func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if len(h.Secret) == 0 {
		http.Error(w, "webhook: no secret configured", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
	if err != nil || len(body) > maxWebhookBody {
		http.Error(w, "body unreadable or too large", http.StatusBadRequest)
		return
	}
	provider, event, ok := h.authenticate(r.Header, body)
	if !ok {
		h.count(provider, "rejected")
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if !isPush(provider, event) || !h.forBranch(body) {
		h.count(provider, "ignored")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "ignored\n")
		return
	}
	h.count(provider, "accepted")
	if h.Wake != nil {
		h.Wake()
	}
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, "accepted\n")
}

// authenticate names the provider and event and checks the signature.
func (h *Webhook) authenticate(hd http.Header, body []byte) (provider, event string, ok bool) {
	switch {
	case hd.Get("X-Gitea-Event") != "" || hd.Get("X-Gitea-Signature") != "":
		return "gitea", hd.Get("X-Gitea-Event"), hmacOK(h.Secret, body, hd.Get("X-Gitea-Signature"))
	case hd.Get("X-Gitlab-Event") != "" || hd.Get("X-Gitlab-Token") != "":
		tok := hd.Get("X-Gitlab-Token")
		return "gitlab", hd.Get("X-Gitlab-Event"), tok != "" && subtle.ConstantTimeCompare([]byte(tok), h.Secret) == 1
	case hd.Get("X-GitHub-Event") != "" || hd.Get("X-Hub-Signature-256") != "":
		sig, found := strings.CutPrefix(hd.Get("X-Hub-Signature-256"), "sha256=")
		return "github", hd.Get("X-GitHub-Event"), found && hmacOK(h.Secret, body, sig)
	}
	return "unknown", "", false
}

// hmacOK compares the hex HMAC-SHA256 of body with sig in constant time.
func hmacOK(secret, body []byte, sig string) bool {
	got, err := hex.DecodeString(strings.TrimSpace(sig))
	if err != nil || len(got) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

func isPush(provider, event string) bool {
	switch provider {
	case "gitlab":
		return event == "Push Hook"
	default:
		return event == "push"
	}
}

// forBranch reports whether the push is to the watched branch; a payload
// without a readable ref counts as yes (a wake-up is harmless).
func (h *Webhook) forBranch(body []byte) bool {
	var p struct {
		Ref string `json:"ref"`
	}
	if h.Branch == "" || json.Unmarshal(body, &p) != nil || p.Ref == "" {
		return true
	}
	return p.Ref == "refs/heads/"+h.Branch
}
