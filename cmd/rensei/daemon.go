package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/apply"
	"github.com/rensei-dev/rensei/reconcile/daemon"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
	"github.com/rensei-dev/rensei/reconcile/notify"
	"github.com/rensei-dev/rensei/reconcile/probe"
	"github.com/rensei-dev/rensei/reconcile/status"
	"github.com/rensei-dev/rensei/schema"
)

// remoteFlags name a config remote and its credentials.
type remoteFlags struct {
	repo         string
	stateDir     string
	statusBranch string
	creds        gitrepo.Credentials
}

func (r *remoteFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&r.repo, "repo", "", "config remote: a URL (https, ssh, file) or a local path")
	f.StringVar(&r.statusBranch, "status-branch", status.DefaultBranch, "branch of the remote holding the drift reports")
	f.StringVar(&r.stateDir, "state-dir", "", "directory for the remote's cache repository (default: $STATE_DIRECTORY, /var/lib/rensei as root, else ~/.local/state/rensei)")
	f.StringVar(&r.creds.SSHKeyFile, "ssh-key", "", "private key file for ssh remotes")
	f.StringVar(&r.creds.SSHKeyPassphraseEnv, "ssh-key-passphrase-env", "RENSEI_SSH_PASSPHRASE", "variable holding the ssh key's passphrase")
	f.StringVar(&r.creds.TokenFile, "token-file", "", "file holding an HTTPS token (else the variable named by --token-env)")
	f.StringVar(&r.creds.TokenEnv, "token-env", "RENSEI_GIT_TOKEN", "variable holding an HTTPS token")
	f.StringVar(&r.creds.Username, "git-user", "git", "user name sent with the HTTPS token")
}

func (r *remoteFlags) open() (*gitrepo.Remote, error) {
	if r.repo == "" {
		return nil, errors.New("--repo: a URL or path of the config repository is required")
	}
	return gitrepo.OpenRemote(r.repo, r.dir(), r.creds)
}

// dir is the state directory: --state-dir, else the default.
func (r *remoteFlags) dir() string {
	if r.stateDir != "" {
		return r.stateDir
	}
	return stateDir()
}

func newDaemon(g *globals) *cobra.Command {
	var (
		rf            remoteFlags
		hf            hostFlags
		branch        string
		interval      time.Duration
		listen        string
		allowPrune    bool
		pruneShare    float64
		scope         string
		evalTimeout   time.Duration
		evalMemory    string
		leaseTTL      time.Duration
		evalOutput    string
		parallel      int
		webhookSecret string
		webhookEnv    string
		keyringFile   string
		secretsDir    string
		adminKeyring  string
		allowRewind   bool
		probeInterval time.Duration
		probeRetry    time.Duration
		probeTimeout  time.Duration
		memoryLimit   string
		profile       bool
		nf            notifyFlags
	)
	cmd := &cobra.Command{
		Use:   "daemon --repo URL|PATH",
		Short: "Converge the hosts to a branch unattended and report drift to Git",
		Long: `Daemon watches a branch of the config remote and enforces its latest good
revision on every host it is responsible for (--hosts; default all). Each
pass checks the branch (one ls-remote), loads a new head only when the
branch moved, observes every host, plans, applies, and commits a drift
report per host to the status branch when the report changed.

A revision that fails to load or validate, or that is not signed by a key
of --verify-keyring, is refused: nothing of it is applied, the previous
revision stays enforced, and the reports say why. A revision that would
delete every managed container of a host, or more than --prune-share of
them, is held the same way until a later revision or --allow-prune.

One daemon per host: each daemon holds a lease per host on the status
branch, renewed as it passes; a second daemon sharing the remote leaves the
hosts another holds alone (and says which daemon holds them) until that
lease expires unrenewed (--lease) or is released when the holder stops.
One daemon per state directory: a second one is refused.

Docker events, netlink changes, webhooks (/webhook) and ref changes of a
local repository start the next pass early. A read-only status page (/),
its data as JSON (/api/v1/status, hosts, environments, links, events),
/healthz, /readyz and /metrics are served on --listen. SIGTERM stops the
daemon after the current step.

Every overlay link of the hosts held (each pair of hosts a network spans)
is probed from the hosts' side, through the bridge and across the VXLAN:
a small echo and a full-size one with don't-fragment, after every change,
every --probe-interval, and every --probe-retry while one is broken. A
broken link is drift: in the reports, the metrics and on the page.

Notifications (drift, repairs, refused revisions, failures, broken links)
go to a JSON webhook and/or a Slack-compatible one; their URLs come from
files or variables, never from Git or the command line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log := g.logger()
			limit, err := setMemoryLimit(memoryLimit, cmd.Flags().Changed("memory-limit"))
			if err != nil {
				return err
			}
			unlock, err := daemon.LockState(rf.dir())
			if err != nil {
				return err
			}
			defer unlock()
			remote, err := rf.open()
			if err != nil {
				return err
			}
			keyring, err := readKeyring("--verify-keyring", keyringFile)
			if err != nil {
				return err
			}
			admins, err := readKeyring("--admin-keyring", adminKeyring)
			if err != nil {
				return err
			}
			secret, err := readSecret(webhookSecret, webhookEnv)
			if err != nil {
				return err
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			metrics := daemon.NewMetrics(reg)
			metrics.SetBuildInfo(currentVersion())
			targets, err := nf.targets()
			if err != nil {
				return err
			}
			notifier := notify.New(targets, notify.Options{MinInterval: nf.minInterval, Log: log, Count: metrics.Notified})
			if probeInterval == 0 {
				probeInterval = -1 // off
			}
			cf := configFlags{memory: evalMemory, output: evalOutput, timeout: evalTimeout}
			child, err := cf.evaluator()
			if err != nil {
				return err
			}
			// A new commit is evaluated again only where files (or what
			// they import) changed, still in a bounded child process.
			ev := engine.NewIncremental(child)
			load, err := cf.loadOptions()
			if err != nil {
				return err
			}
			d, err := daemon.New(daemon.Config{
				Evaluator:   ev,
				Secrets:     &engine.Secrets{Dir: secretsDir},
				Remote:      remote,
				Branch:      branch,
				Publisher:   &status.Publisher{Remote: remote, Branch: rf.statusBranch, Log: log},
				Interval:    interval,
				Hosts:       hf.hosts,
				Scope:       scope,
				Load:        load,
				Apply:       apply.Options{Parallel: parallel, Log: log},
				AllowPrune:  allowPrune,
				AllowRewind: allowRewind,
				PruneShare:  pruneShare,
				Keyring:     keyring,
				LeaseTTL:    leaseTTL,
				// The state directory names this daemon across restarts
				// (one daemon at a time uses it): restarted, it takes its
				// own leases back at once.
				Holder:       status.NewHolder(branch, rf.dir()),
				AdminKeyring: admins,
				Metrics:      metrics,
				Log:          log,
				Links:        daemon.LinkOptions{Interval: probeInterval, Retry: probeRetry, Probe: probe.Options{Timeout: probeTimeout}},
				Notifier:     notifier,
				Version:      currentVersion(),
			})
			if err != nil {
				return err
			}
			notifyCtx, stopNotify := context.WithCancel(context.WithoutCancel(ctx))
			notified := make(chan struct{})
			go func() { defer close(notified); notifier.Run(notifyCtx) }()
			defer func() {
				stopNotify() // what is still queued is dropped, and logged
				<-notified
			}()
			for _, t := range targets {
				log.Info("notifications on", "target", t.Name, "format", string(t.Format), "signed", len(t.Secret) > 0)
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen %s: %w", listen, err)
			}
			if host, _, _ := net.SplitHostPort(listen); !isLoopback(host) {
				log.Warn("listening beyond loopback: the status page, /api/v1 and /metrics are readable by anyone who can connect", "addr", listen)
			}
			srvCtx, stopServer := context.WithCancel(context.Background())
			served := make(chan error, 1)
			handler := d.Handler(secret)
			if profile {
				handler = withProfiling(handler)
			}
			go func() { served <- daemon.Serve(srvCtx, ln, handler, daemon.DefaultLimits) }()
			log.Info("daemon started", "repo", remote.Name(), "branch", branch, "listen", ln.Addr().String(), "memory-limit", limit)
			runErr := d.Run(ctx)
			stopServer()
			if err := <-served; err != nil {
				log.Warn("http server", "err", err)
			}
			return runErr
		},
	}
	rf.register(cmd)
	hf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&branch, "branch", "main", "branch of the config remote to enforce")
	f.DurationVar(&interval, "interval", daemon.DefaultInterval, "time between passes (±10% jitter); events start one sooner")
	f.StringVar(&listen, "listen", "127.0.0.1:9470", "address for the status page (/), /api/v1/, /healthz, /readyz, /metrics and /webhook")
	f.BoolVar(&allowRewind, "allow-rewind", false, "apply a head that does not descend from the enforced commit (a force-push back) without an approval")
	f.BoolVar(&allowPrune, "allow-prune", false, "apply revisions that delete more than --prune-share of a host's containers")
	f.Float64Var(&pruneShare, "prune-share", engine.DefaultPruneShare, "largest share of a host's managed containers a revision may delete")
	f.StringVar(&scope, "scope", os.Getenv("RENSEI_SCOPE"), "deployment scope on shared engines (env RENSEI_SCOPE)")
	f.DurationVar(&evalTimeout, "eval-timeout", schema.DefaultTimeout, "bound on each file's Jsonnet evaluation")
	f.StringVar(&evalMemory, "eval-memory", "1Gi", "bound on the memory of each evaluation (a child process)")
	f.StringVar(&evalOutput, "eval-output", "64Mi", "bound on the JSON one file evaluates to")
	f.DurationVar(&leaseTTL, "lease", daemon.DefaultLeaseTTL, "how long this daemon's hold on its hosts lasts unrenewed (at least 4 intervals): another daemon takes them over only after it")
	f.IntVar(&parallel, "parallel", apply.DefaultParallel, "steps run at once per host")
	f.StringVar(&webhookSecret, "webhook-secret-file", "", "file holding the webhook secret (else the variable named by --webhook-secret-env); no secret: /webhook is off")
	f.StringVar(&webhookEnv, "webhook-secret-env", "RENSEI_WEBHOOK_SECRET", "variable holding the webhook secret")
	f.StringVar(&secretsDir, "secrets-dir", defaultSecretsDir(), "directory of secret values, one file per secret (env RENSEI_SECRETS_DIR); never in Git")
	f.StringVar(&adminKeyring, "admin-keyring", "", "armored PGP key ring of campus IT: heads changing policy/ or sites/ must be signed by one of its keys")
	f.StringVar(&keyringFile, "verify-keyring", "", "armored PGP key ring: apply only heads signed by one of its keys")
	f.DurationVar(&probeInterval, "probe-interval", daemon.DefaultProbeInterval, "time between probe rounds of the overlay links (0: no probing)")
	f.DurationVar(&probeRetry, "probe-retry", daemon.DefaultProbeRetry, "time between probe rounds while a link is broken")
	f.DurationVar(&probeTimeout, "probe-timeout", probe.DefaultTimeout, "wait for each echo reply of a probe")
	f.BoolVar(&profile, "pprof", false, "also serve Go's profiles at /debug/pprof/ on --listen (heap, CPU, goroutines: for finding where the daemon's time and memory go)")
	f.StringVar(&memoryLimit, "memory-limit", defaultMemoryLimit, "soft limit on the daemon's own memory (Go's runtime/debug.SetMemoryLimit): the garbage collector works harder as the daemon nears it, instead of letting the heap grow to twice what is live. Not a hard cap (the garbage collector takes at most about half the CPU to hold it; systemd's MemoryMax is one); Jsonnet runs in child processes bounded by --eval-memory. Without the flag, GOMEMLIMIT when set in the environment; \"off\": none. Raise it for large fleets: the daemon's live heap grows with the containers it manages")
	nf.register(cmd)
	return cmd
}

// defaultMemoryLimit is the daemon's soft memory limit by default.
const defaultMemoryLimit = "100Mi"

// setMemoryLimit sets the Go runtime's soft memory limit from
// --memory-limit (given: set on the command line), else leaves the one
// GOMEMLIMIT set, else sets the default. It returns the limit in force, in
// words for the log.
func setMemoryLimit(flag string, given bool) (string, error) {
	if env := os.Getenv("GOMEMLIMIT"); env != "" && !given {
		return "GOMEMLIMIT=" + env, nil // the runtime read it as it started
	}
	if flag == "off" {
		debug.SetMemoryLimit(math.MaxInt64)
		return "off", nil
	}
	n, err := schema.ParseBytes(flag)
	if err != nil {
		return "", fmt.Errorf("--memory-limit %q: %w", flag, err)
	}
	debug.SetMemoryLimit(n)
	return flag, nil
}

// notifyFlags name where notification targets come from: files or
// variables, so that no URL (which holds its secret) is in Git, on the
// command line or in a process listing.
type notifyFlags struct {
	webhookFile, webhookEnv      string
	webhookSecretFile, secretEnv string
	slackFile, slackEnv          string
	minInterval                  time.Duration
}

func (n *notifyFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&n.webhookFile, "notify-webhook-url-file", "", "file holding the URL of a generic JSON webhook for notifications (else the variable named by --notify-webhook-url-env)")
	f.StringVar(&n.webhookEnv, "notify-webhook-url-env", "RENSEI_NOTIFY_WEBHOOK_URL", "variable holding the generic webhook's URL")
	f.StringVar(&n.webhookSecretFile, "notify-webhook-secret-file", "", "file holding a secret: the JSON webhook's bodies are signed (X-Rensei-Signature-256, HMAC-SHA256) (else the variable named by --notify-webhook-secret-env)")
	f.StringVar(&n.secretEnv, "notify-webhook-secret-env", "RENSEI_NOTIFY_WEBHOOK_SECRET", "variable holding the JSON webhook's signing secret")
	f.StringVar(&n.slackFile, "notify-slack-url-file", "", "file holding a Slack-compatible incoming webhook URL (else the variable named by --notify-slack-url-env)")
	f.StringVar(&n.slackEnv, "notify-slack-url-env", "RENSEI_NOTIFY_SLACK_URL", "variable holding the Slack-compatible webhook's URL")
	f.DurationVar(&n.minInterval, "notify-min-interval", 10*time.Second, "least time between two notifications to one target: events meanwhile go together")
}

// targets reads the configured notification targets; none is fine.
func (n *notifyFlags) targets() ([]notify.Target, error) {
	var out []notify.Target
	add := func(name string, format notify.Format, urlFlag, file, env string, secret []byte) error {
		u, err := readValue(urlFlag, file, env)
		if err != nil || u == "" {
			return err
		}
		t := notify.Target{Name: name, Format: format, URL: u, Secret: secret}
		if err := t.Check(); err != nil {
			return err
		}
		out = append(out, t)
		return nil
	}
	secret, err := readValue("--notify-webhook-secret-file", n.webhookSecretFile, n.secretEnv)
	if err != nil {
		return nil, err
	}
	if err := add("webhook", notify.JSON, "--notify-webhook-url-file", n.webhookFile, n.webhookEnv, []byte(secret)); err != nil {
		return nil, err
	}
	if err := add("slack", notify.Slack, "--notify-slack-url-file", n.slackFile, n.slackEnv, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// readValue reads a value from a file (its first line) or a variable.
func readValue(flag, file, env string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s: %w", flag, err)
		}
		line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		return strings.TrimSpace(line), nil
	}
	if env != "" {
		return strings.TrimSpace(os.Getenv(env)), nil
	}
	return "", nil
}

// readKeyring reads an armored OpenPGP key ring file named by flag, or "".
func readKeyring(flag, file string) (string, error) {
	if file == "" {
		return "", nil
	}
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	defer f.Close()
	kr, err := gitrepo.ReadKeyring(f)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", flag, file, err)
	}
	return kr, nil
}

// readSecret reads a secret from a file (first line) or a variable.
func readSecret(file, env string) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--webhook-secret-file: %w", err)
		}
		line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		return []byte(line), nil
	}
	if env != "" {
		return []byte(os.Getenv(env)), nil
	}
	return nil, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// withProfiling serves net/http/pprof's handlers under /debug/pprof/ and
// h for everything else.
func withProfiling(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", h)
	return mux
}
