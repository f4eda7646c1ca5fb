package daemon

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rensei-dev/rensei/reconcile/apply"
)

// Metrics are the daemon's Prometheus series, all prefixed rensei_.
type Metrics struct {
	Registry *prometheus.Registry

	passDuration  prometheus.Histogram
	passes        *prometheus.CounterVec
	driftFound    prometheus.Counter
	stepsApplied  *prometheus.CounterVec
	stepsFailed   prometheus.Counter
	fetchDuration prometheus.Histogram
	gitErrors     *prometheus.CounterVec
	webhooks      *prometheus.CounterVec
	revisions     *prometheus.CounterVec
	reports       prometheus.Counter
	hostsLeased   *prometheus.GaugeVec
}

// NewMetrics registers the series on reg (nil: a new registry of their own).
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		Registry: reg,
		passDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rensei_pass_duration_seconds", Help: "Duration of a reconcile pass.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rensei_passes_total", Help: "Reconcile passes by result (converged, drifted, failed, no-config).",
		}, []string{"result"}),
		driftFound: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rensei_drift_found_total", Help: "Steps found necessary by passes (drift from the desired state).",
		}),
		stepsApplied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rensei_steps_applied_total", Help: "Steps applied, by action.",
		}, []string{"action"}),
		stepsFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rensei_steps_failed_total", Help: "Steps that failed.",
		}),
		fetchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rensei_git_fetch_duration_seconds", Help: "Duration of git fetches (config and status branches).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		gitErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rensei_git_errors_total", Help: "Failed git operations, by operation (ls-remote, fetch, push).",
		}, []string{"op"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rensei_webhook_deliveries_total", Help: "Webhook deliveries, by provider and result (accepted, ignored, rejected).",
		}, []string{"provider", "result"}),
		revisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rensei_revisions_refused_total", Help: "Revisions not applied, by reason (invalid, held).",
		}, []string{"reason"}),
		reports: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rensei_reports_written_total", Help: "Host reports committed to the status branch.",
		}),
		hostsLeased: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rensei_hosts_leased", Help: "Hosts by lease holder: this daemon (self) or another daemon (other).",
		}, []string{"holder"}),
	}
	reg.MustRegister(m.hostsLeased, m.passDuration, m.passes, m.driftFound, m.stepsApplied, m.stepsFailed,
		m.fetchDuration, m.gitErrors, m.webhooks, m.revisions, m.reports)
	return m
}

func (m *Metrics) pass(d time.Duration, result string) {
	m.passDuration.Observe(d.Seconds())
	m.passes.WithLabelValues(result).Inc()
}

func (m *Metrics) drift(n int) { m.driftFound.Add(float64(n)) }

func (m *Metrics) applied(res apply.Result) {
	for _, s := range res.Done {
		m.stepsApplied.WithLabelValues(string(s.Action)).Inc()
	}
	m.stepsFailed.Add(float64(len(res.Failed)))
}

func (m *Metrics) fetched(d time.Duration, err error) {
	m.fetchDuration.Observe(d.Seconds())
	if err != nil {
		m.gitErrors.WithLabelValues("fetch").Inc()
	}
}

func (m *Metrics) gitError(op string) { m.gitErrors.WithLabelValues(op).Inc() }

func (m *Metrics) webhook(provider, result string) {
	m.webhooks.WithLabelValues(provider, result).Inc()
}

func (m *Metrics) refused(held bool) {
	reason := "invalid"
	if held {
		reason = "held"
	}
	m.revisions.WithLabelValues(reason).Inc()
}

func (m *Metrics) reportsWritten(n int) { m.reports.Add(float64(n)) }

func (m *Metrics) leases(self, other int) {
	m.hostsLeased.WithLabelValues("self").Set(float64(self))
	m.hostsLeased.WithLabelValues("other").Set(float64(other))
}
