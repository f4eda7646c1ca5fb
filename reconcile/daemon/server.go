package daemon

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"
)

// Limits bound the daemon's HTTP server: every connection in time and
// size, and their number, so that a slow or hostile client can hold
// neither memory nor the daemon's attention.
type Limits struct {
	MaxConnections    int
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration // the whole request, body included
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration // a kept-alive connection between requests
	MaxHeaderBytes    int
}

// DefaultLimits are the limits of `rensei daemon`.
var DefaultLimits = Limits{MaxConnections: 64, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
	WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10}

// MaxBodyBytes bounds every request body (webhooks are the largest).
const MaxBodyBytes = maxWebhookBody

// Handler serves the status page at / (read-only; see page.go) with its
// stream ui/stream and fragment ui/fragment, the same data as JSON under
// /api/v1/ (status, hosts, environments, links, events), /healthz (the
// process is up), /readyz (a host converged in the last pass), /metrics
// (Prometheus) and, with a secret, /webhook (push events; see Webhook).
// Every request body is bounded.
func (d *Daemon) Handler(webhookSecret []byte) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.servePage)
	mux.HandleFunc("GET /ui/fragment", d.serveFragment)
	mux.HandleFunc("GET /ui/stream", d.serveStream)
	d.apiRoutes(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if why := d.NotReady(); why != "" {
			http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.cfg.Metrics.Registry, promhttp.HandlerOpts{}))
	mux.Handle("/webhook", &Webhook{Secret: webhookSecret, Branch: d.cfg.Branch, Wake: d.Wake, Count: d.cfg.Metrics.webhook})
	return http.MaxBytesHandler(mux, MaxBodyBytes)
}

// Serve serves h on ln within lim until ctx ends, then shuts down
// gracefully (bounded by 5 s). It returns nil after a shutdown. Requests
// still running then (status page streams) see their context end first.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, lim Limits) error {
	base, stop := context.WithCancel(context.Background())
	defer stop()
	srv := &http.Server{
		BaseContext:       func(net.Listener) context.Context { return base },
		Handler:           h,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(netutil.LimitListener(ln, lim.MaxConnections)) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	stop()
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shut)
	if serr := <-done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
