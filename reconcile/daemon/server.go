package daemon

import (
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves /healthz (the process is up), /readyz (a pass has
// enforced a revision), /metrics (Prometheus) and, with a secret,
// /webhook (push events; see Webhook).
func (d *Daemon) Handler(webhookSecret []byte) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !d.Ready() {
			http.Error(w, "not ready: no pass has enforced a revision yet", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.cfg.Metrics.Registry, promhttp.HandlerOpts{}))
	mux.Handle("/webhook", &Webhook{Secret: webhookSecret, Branch: d.cfg.Branch, Wake: d.Wake, Count: d.cfg.Metrics.webhook})
	return mux
}
