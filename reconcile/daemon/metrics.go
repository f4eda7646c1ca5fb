package daemon

import (
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rensei-dev/rensei/reconcile/apply"
	"github.com/rensei-dev/rensei/reconcile/engine"
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

	buildInfo     *prometheus.GaugeVec
	notifications *prometheus.CounterVec
	linkProbes    *prometheus.CounterVec
	// Per host, environment and link; series of hosts, environments and
	// links that are gone are deleted (see gauges).
	hostUp, hostConverged, hostDrifted, hostLastConverged *gauges
	instancesDesired, instancesRunning                    *gauges
	linkUp, linkMTUOK, linkRTT                            *gauges
	// cache is the connected hosts' watch-fed cache, read at each scrape.
	cache cacheCollector
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
	m.buildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rensei_build_info", Help: "Always 1; the labels say which build runs.",
	}, []string{"version", "goversion", "commit"})
	m.notifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rensei_notifications_total", Help: "Notification outcomes by target and result (sent, retried, failed: messages; dropped: events lost).",
	}, []string{"target", "result"})
	m.linkProbes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rensei_link_probes_total", Help: "Overlay link probes by result (ok, mtu, down).",
	}, []string{"result"})
	hostLabels := []string{"site", "host"}
	envLabels := []string{"env", "site", "host"}
	linkLabels := []string{"network", "host", "peer"}
	m.hostUp = newGauges("rensei_host_up", "1 when the host's engine answered in the last pass.", hostLabels)
	m.hostConverged = newGauges("rensei_host_converged", "1 when the host converged in the last pass (its overlay links aside).", hostLabels)
	m.hostDrifted = newGauges("rensei_drifted_objects", "Objects of the host not in their desired state after the last pass (drift found and not repaired).", hostLabels)
	m.hostLastConverged = newGauges("rensei_last_successful_pass_timestamp_seconds", "When a pass last left the host converged (Unix time).", hostLabels)
	m.instancesDesired = newGauges("rensei_instances_desired", "Instances (containers) the enforced revision places on the host, by environment.", envLabels)
	m.instancesRunning = newGauges("rensei_instances_running", "Of those, the ones running as desired after the last pass.", envLabels)
	m.linkUp = newGauges("rensei_link_up", "1 when a small echo crossed the overlay link in the last probe.", linkLabels)
	m.linkMTUOK = newGauges("rensei_link_mtu_ok", "1 when a full-size echo with don't-fragment crossed the overlay link in the last probe.", linkLabels)
	m.linkRTT = newGauges("rensei_link_rtt_seconds", "Round-trip time of the last small echo across the overlay link.", linkLabels)
	reg.MustRegister(m.hostsLeased, m.passDuration, m.passes, m.driftFound, m.stepsApplied, m.stepsFailed,
		m.fetchDuration, m.gitErrors, m.webhooks, m.revisions, m.reports, m.buildInfo, m.notifications, m.linkProbes,
		m.hostUp.vec, m.hostConverged.vec, m.hostDrifted.vec, m.hostLastConverged.vec, m.instancesDesired.vec, m.instancesRunning.vec,
		m.linkUp.vec, m.linkMTUOK.vec, m.linkRTT.vec, &m.cache)
	m.SetBuildInfo("")
	return m
}

// SetBuildInfo sets rensei_build_info: version (default: the main
// module's version, else "devel"), the Go release, and the VCS commit the
// build recorded ("unknown" when none).
func (m *Metrics) SetBuildInfo(version string) {
	commit := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				commit = s.Value
			}
		}
	}
	if version == "" {
		version = "devel"
	}
	m.buildInfo.Reset()
	m.buildInfo.WithLabelValues(version, runtime.Version(), commit).Set(1)
}

// Notified counts a notification outcome (see notify.Options.Count).
func (m *Metrics) Notified(target, result string, n int) {
	m.notifications.WithLabelValues(target, result).Add(float64(n))
}

// gauges is a gauge vector whose series are replaced as a whole: series
// not set again are deleted, so a host or link that is gone stops being
// reported instead of keeping its last value.
type gauges struct {
	vec  *prometheus.GaugeVec
	last map[string][]string
	next map[string][]string
}

func newGauges(name, help string, labels []string) *gauges {
	return &gauges{vec: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels), last: map[string][]string{}}
}

// set sets one series of the current generation.
func (g *gauges) set(v float64, labels ...string) {
	if g.next == nil {
		g.next = map[string][]string{}
	}
	g.next[strings.Join(labels, "\x00")] = labels
	g.vec.WithLabelValues(labels...).Set(v)
}

// done ends a generation: series set before it and not in it are deleted.
func (g *gauges) done() {
	for k, labels := range g.last {
		if _, ok := g.next[k]; !ok {
			g.vec.DeleteLabelValues(labels...)
		}
	}
	g.last, g.next = g.next, nil
	if g.last == nil {
		g.last = map[string][]string{}
	}
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

// cacheCollector exports the counters of the connected hosts' watch-fed
// cache (engine.CacheStats). They start again from zero when the daemon
// connects anew (the hosts or their endpoints changed): Prometheus takes
// that as a counter reset.
type cacheCollector struct {
	hosts atomic.Pointer[engine.Hosts]
}

var cacheDescs = []struct {
	desc *prometheus.Desc
	of   func(engine.CacheStats) int64
}{
	{prometheus.NewDesc("rensei_cache_hits_total", "Lists (and host probes) answered from the watch-fed cache.", nil, nil), func(s engine.CacheStats) int64 { return s.Hits }},
	{prometheus.NewDesc("rensei_cache_lists_total", "Lists (and host probes) sent to the hosts: the first, after a change or a write, on schedule, or while a watch was down.", nil, nil), func(s engine.CacheStats) int64 { return s.Lists }},
	{prometheus.NewDesc("rensei_cache_lookups_total", "Look-ups of the containers a watch event or Rensei's own change named, in place of a list of all of a host's containers.", nil, nil), func(s engine.CacheStats) int64 { return s.Lookups }},
	{prometheus.NewDesc("rensei_cache_resyncs_total", "Scheduled relists of a host, compared with the cache.", nil, nil), func(s engine.CacheStats) int64 { return s.Resyncs }},
	{prometheus.NewDesc("rensei_cache_gaps_total", "Watch failures (the host is listed on every pass until its watch is back).", nil, nil), func(s engine.CacheStats) int64 { return s.Gaps }},
	{prometheus.NewDesc("rensei_cache_stale_total", "Relists that found the cache wrong although no event said so: a missed event (logged with the objects).", nil, nil), func(s engine.CacheStats) int64 { return s.Stale }},
	{prometheus.NewDesc("rensei_cache_idle_passes_total", "Passes answered whole from memory: nothing changed since a pass that found nothing to do.", nil, nil), func(s engine.CacheStats) int64 { return s.Idle }},
	{prometheus.NewDesc("rensei_cache_partial_passes_total", "Passes that planned only the environments whose desired state changed, on hosts unchanged since a pass that found nothing to do.", nil, nil), func(s engine.CacheStats) int64 { return s.Partial }},
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range cacheDescs {
		ch <- d.desc
	}
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.hosts.Load()
	if h == nil {
		return
	}
	st := h.CacheStats()
	for _, d := range cacheDescs {
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(d.of(st)))
	}
}
