package cli_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestEvaluationBounds runs configurations that try to take the machine:
// each is stopped with a problem naming its file, within seconds (the
// time bound, 30s, is never what stops them), and the
// processes involved (rensei and its evaluating child) never held much
// more memory than the bound.
func TestEvaluationBounds(t *testing.T) {
	t.Parallel()
	const memory = 256 << 20
	cases := []struct {
		name, body, msg string
		flags           []string
	}{
		{
			name: "one huge array",
			body: "std.toString(std.length(std.range(1, 200000000)))",
			msg:  "needed more than 256 MiB of memory (--eval-memory)",
		},
		{
			name: "growing string",
			body: "std.toString(std.length(std.join('', std.makeArray(2000000, function(i) std.repeat('x', 1000 + i % 7)))))",
			msg:  "needed more than 256 MiB of memory (--eval-memory)",
		},
		{
			name: "endless recursion",
			body: "(local loop(n) = if n == 0 then 0 else loop(n - 1) tailstrict; std.toString(loop(1000000000)))",
			msg:  "recursed too deeply (more than 64 MiB of stack): it was stopped",
		},
		{
			name:  "output too large",
			body:  "std.join('', std.makeArray(3000, function(i) std.repeat('y', 1000)))",
			msg:   "evaluates to 2 MiB of JSON, more than the 1 MiB a file may (--eval-output)",
			flags: []string{"--eval-output", "1Mi"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t, nil)
			r.write("environments/bomb.jsonnet", "{ name: '"+r.env+"', groups: [], labels: { n: "+tc.body+" } }\n")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, append([]string{"validate", r.dir, "--eval-memory", "256Mi"}, tc.flags...)...)
			cmd.Dir = t.TempDir()
			cmd.Env = append(os.Environ(), "NO_COLOR=1")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			start := time.Now()
			err := cmd.Run()
			took := time.Since(start)
			t.Logf("exit %v in %s:\n%s", err, took, out.String())
			if ctx.Err() != nil {
				t.Fatal("validate did not end within a minute")
			}
			if cmd.ProcessState.ExitCode() != 1 {
				t.Errorf("exit code %d, want 1", cmd.ProcessState.ExitCode())
			}
			if want := "environments/bomb.jsonnet: "; !strings.Contains(out.String(), want+"evaluation "+tc.msg) && !strings.Contains(out.String(), want+tc.msg) {
				t.Errorf("output does not name the file with %q", tc.msg)
			}
			if took > 20*time.Second {
				t.Errorf("took %s: a runaway evaluation must be stopped within 20s", took)
			}
			// The rusage of a waited process covers its waited children.
			peak := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
			t.Logf("peak resident memory %d MiB", peak>>20)
			if peak > memory+128<<20 {
				t.Errorf("peak resident memory %d MiB, bound 256 MiB (+128 MiB slack)", peak>>20)
			}
		})
	}
}
