package daemon

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/notify"
)

// The status page is one server-rendered HTML document with its CSS and
// script inline: nothing is loaded from anywhere else, so it works on a
// campus network without Internet access, and a Content-Security-Policy
// allows exactly that inline CSS and script. The script keeps the page
// current without a reload: it listens to ui/stream (server-sent events,
// each carrying the page's main part rendered again) and falls back to
// polling ui/fragment every 5 s.

//go:embed page/page.html page/page.css page/page.js
var pageFiles embed.FS

var (
	pageTmpl   = template.Must(template.New("page").Funcs(pageFuncs).ParseFS(pageFiles, "page/page.html"))
	pageCSS    = mustRead("page/page.css")
	pageScript = mustRead("page/page.js")
	// pageCSP allows the inline CSS and script by their hashes, and
	// requests to this daemon only.
	pageCSP = fmt.Sprintf("default-src 'none'; style-src '%s'; script-src '%s'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
		hashSource(pageCSS), hashSource(pageScript))
)

func mustRead(name string) string {
	b, err := pageFiles.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func hashSource(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(h[:])
}

var pageFuncs = template.FuncMap{
	"short": gitrepo.Short,
	"clock": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"date": func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"ms": func(sec float64) string {
		if sec < 1 {
			return fmt.Sprintf("%.0f ms", sec*1000)
		}
		return fmt.Sprintf("%.1f s", sec)
	},
	"passClass": func(result string) string {
		switch result {
		case ResultConverged:
			return "ok"
		case ResultChanged:
			return "warn"
		case ResultFailed, ResultNoConfig:
			return "bad"
		}
		return ""
	},
}

// pageModel is a snapshot arranged for the template.
type pageModel struct {
	*Snapshot
	CSS               template.CSS
	Script            template.JS
	HeldElsewhere     []HostView
	BrokenLinks       []LinkView
	LinksBroken       int
	RecentNewestFirst []notify.Event
}

func newPageModel(s *Snapshot) pageModel {
	m := pageModel{Snapshot: s, CSS: template.CSS(pageCSS), Script: template.JS(pageScript)}
	for _, h := range s.Hosts {
		if h.HeldBy != "" {
			m.HeldElsewhere = append(m.HeldElsewhere, h)
		}
	}
	for _, l := range s.Links {
		if l.State == "down" || l.State == "mtu" {
			m.BrokenLinks = append(m.BrokenLinks, l)
		}
	}
	m.LinksBroken = len(m.BrokenLinks)
	m.RecentNewestFirst = slices.Clone(s.Recent)
	slices.Reverse(m.RecentNewestFirst)
	return m
}

// render executes one template of the page for the latest snapshot.
func (d *Daemon) render(name string) ([]byte, error) {
	s, _ := d.Snapshot()
	var b bytes.Buffer
	if err := pageTmpl.ExecuteTemplate(&b, name, newPageModel(s)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// securityHeaders are sent with every page and API answer.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
}

func (d *Daemon) servePage(w http.ResponseWriter, _ *http.Request) {
	b, err := d.render("page")
	if err != nil {
		d.log.Error("status page", "err", err)
		http.Error(w, "status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	securityHeaders(w)
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b)
}

func (d *Daemon) serveFragment(w http.ResponseWriter, _ *http.Request) {
	b, err := d.render("main")
	if err != nil {
		http.Error(w, "status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b)
}

// serveJSON answers with part of the latest snapshot.
func (d *Daemon) serveJSON(part func(*Snapshot) any) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		s, _ := d.Snapshot()
		b, err := json.MarshalIndent(part(s), "", "  ")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		securityHeaders(w)
		w.Header().Set("Content-Type", "application/json")
		w.Write(append(b, '\n'))
	}
}

// apiRoutes are the JSON endpoints, each a part of the snapshot.
func (d *Daemon) apiRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/status", d.serveJSON(func(s *Snapshot) any { return s }))
	mux.HandleFunc("GET /api/v1/hosts", d.serveJSON(func(s *Snapshot) any { return s.Hosts }))
	mux.HandleFunc("GET /api/v1/environments", d.serveJSON(func(s *Snapshot) any { return s.Environments }))
	mux.HandleFunc("GET /api/v1/links", d.serveJSON(func(s *Snapshot) any {
		return struct {
			Links    []LinkView    `json:"links"`
			Networks []NetworkView `json:"networks"`
		}{s.Links, s.Networks}
	}))
	mux.HandleFunc("GET /api/v1/events", d.serveJSON(func(s *Snapshot) any { return s.Recent }))
}

// Stream bounds. A stream is one of the server's capped connections, so
// streams have a cap of their own (the rest stay for the API, metrics and
// webhooks); each ends after streamLifetime (the browser reconnects by
// itself), and a client that stops reading is cut off by the deadline of
// the write it blocks.
const (
	maxStreams       = 16
	streamLifetime   = 10 * time.Minute
	streamHeartbeat  = 15 * time.Second
	streamWriteLimit = 10 * time.Second
	streamMinGap     = time.Second
)

// serveStream sends the page's main part as a server-sent event now and
// whenever a new snapshot is published.
func (d *Daemon) serveStream(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	if d.streams >= maxStreams {
		d.mu.Unlock()
		http.Error(w, "too many status page streams; poll ui/fragment", http.StatusServiceUnavailable)
		return
	}
	d.streams++
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.streams--
		d.mu.Unlock()
	}()
	rc := http.NewResponseController(w)
	// The server's read and write timeouts bound every request from its
	// start; a stream outlives them. A client sends nothing more after its
	// request, so reading needs no deadline; each write gets its own.
	if err := rc.SetReadDeadline(time.Time{}); err != nil {
		http.Error(w, "streaming not supported", http.StatusInternalServerError)
		return
	}
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	send := func(chunk string) bool {
		if rc.SetWriteDeadline(time.Now().Add(streamWriteLimit)) != nil {
			return false
		}
		if _, err := io.WriteString(w, chunk); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: 2000\n\n") {
		return
	}
	end := time.NewTimer(streamLifetime)
	defer end.Stop()
	beat := time.NewTicker(streamHeartbeat)
	defer beat.Stop()
	var last []byte
	for {
		_, changed := d.Snapshot()
		b, err := d.render("main")
		if err != nil {
			return
		}
		if !bytes.Equal(b, last) {
			if !send(event("update", b)) {
				return
			}
			last = b
			// Passes may follow each other quickly (a busy engine's
			// events); the page needs no more than one update a second.
			select {
			case <-r.Context().Done():
				return
			case <-time.After(streamMinGap):
			}
		}
		for waiting := true; waiting; {
			select {
			case <-r.Context().Done():
				return
			case <-end.C:
				return
			case <-beat.C:
				if !send(": keep-alive\n\n") {
					return
				}
			case <-changed:
				waiting = false
			}
		}
	}
}

// event formats a server-sent event: every line of data prefixed "data: ".
func event(name string, data []byte) string {
	var b strings.Builder
	b.WriteString("event: " + name + "\n")
	for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		b.WriteString("data: ")
		b.WriteString(strings.TrimRight(line, "\r"))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	return b.String()
}
