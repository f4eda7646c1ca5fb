// Command rensei turns a Git repository of Jsonnet definitions into running,
// federated virtual cloud environments: containers on Docker hosts at
// several sites joined by VXLAN overlays. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// exitError carries an exit code other than 1 (plan's 2: changes present).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	var ee exitError
	switch {
	case errors.As(err, &ee):
		os.Exit(ee.code)
	case err != nil:
		fmt.Fprintln(os.Stderr, "rensei:", err)
		os.Exit(1)
	}
}

// globals are the flags every command shares.
type globals struct {
	logLevel  string
	logFormat string
	stdout    io.Writer
	stderr    io.Writer
}

func newRoot() *cobra.Command {
	g := &globals{stdout: os.Stdout, stderr: os.Stderr}
	root := &cobra.Command{
		Use:           "rensei",
		Short:         "Declarative GitOps reconciler for federated virtual cloud environments",
		SilenceUsage:  true,
		SilenceErrors: true,
		// --version prints what the version command prints.
		Version: versionLine(),
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			g.stdout, g.stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
			var level slog.Level
			if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: want debug, info, warn or error", g.logLevel)
			}
			return nil
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "auto", "log format: text, json, or auto (text on a terminal)")
	root.AddCommand(newValidate(g), newEval(g), newPlan(g), newApply(g), newLab(g), newVersion(g),
		newVolumes(g), newHistory(g), newDaemon(g), newStatus(g), newHosts(g), newEvaluateChild(g), newApprove(g),
		newFmt(g), newLint(g), newPs(g), newExec(g), newLogs(g), newEnv(g))
	for _, c := range hiddenCommands {
		root.AddCommand(c(g))
	}
	registerCompletions(root)
	return root
}

// hiddenCommands are added to the tree by the files that define them
// (man.go: __man, used by the release build).
var hiddenCommands []func(*globals) *cobra.Command

// logger builds the slog logger the flags ask for, writing to stderr.
func (g *globals) logger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		level = slog.LevelWarn // refused before any command runs
	}
	opts := &slog.HandlerOptions{Level: level}
	format := g.logFormat
	if format == "auto" {
		format = "json"
		if isTerminal(g.stderr) {
			format = "text"
		}
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(g.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(g.stderr, opts))
}

// isTerminal reports whether the reader or writer is a character device
// (colour additionally checks NO_COLOR and TERM).
func isTerminal(rw any) bool {
	f, ok := rw.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// colour reports whether output to w may use ANSI colours.
func colour(w io.Writer) bool {
	return isTerminal(w) && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
}
