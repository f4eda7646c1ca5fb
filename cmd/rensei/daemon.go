package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/rensei-dev/rensei/reconcile/apply"
	"github.com/rensei-dev/rensei/reconcile/daemon"
	"github.com/rensei-dev/rensei/reconcile/engine"
	"github.com/rensei-dev/rensei/reconcile/gitrepo"
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
local repository start the next pass early. /healthz, /readyz and /metrics
are served on --listen. SIGTERM stops the daemon after the current step.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log := g.logger()
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
			cf := configFlags{memory: evalMemory, output: evalOutput, timeout: evalTimeout}
			ev, err := cf.evaluator()
			if err != nil {
				return err
			}
			load, err := cf.loadOptions()
			if err != nil {
				return err
			}
			d, err := daemon.New(daemon.Config{
				Evaluator:    ev,
				Secrets:      &engine.Secrets{Dir: secretsDir},
				Remote:       remote,
				Branch:       branch,
				Publisher:    &status.Publisher{Remote: remote, Branch: rf.statusBranch, Log: log},
				Interval:     interval,
				Hosts:        hf.hosts,
				Scope:        scope,
				Load:         load,
				Apply:        apply.Options{Parallel: parallel, Log: log},
				AllowPrune:   allowPrune,
				AllowRewind:  allowRewind,
				PruneShare:   pruneShare,
				Keyring:      keyring,
				LeaseTTL:     leaseTTL,
				AdminKeyring: admins,
				Metrics:      daemon.NewMetrics(reg),
				Log:          log,
			})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen %s: %w", listen, err)
			}
			if host, _, _ := net.SplitHostPort(listen); !isLoopback(host) {
				log.Warn("listening beyond loopback: /metrics is readable by anyone who can connect", "addr", listen)
			}
			srvCtx, stopServer := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- daemon.Serve(srvCtx, ln, d.Handler(secret), daemon.DefaultLimits) }()
			log.Info("daemon started", "repo", remote.Name(), "branch", branch, "listen", ln.Addr().String())
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
	f.StringVar(&listen, "listen", "127.0.0.1:9470", "address for /healthz, /readyz, /metrics and /webhook")
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
	return cmd
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
