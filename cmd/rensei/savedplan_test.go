package main

import (
	"slices"
	"testing"

	"github.com/spf13/cobra"
)

// TestOutFlag: Terraform's -out FILE, wherever it stands, and -out=FILE,
// --out FILE, next to -o FORMAT.
func TestOutFlag(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		out    string
		format string
		rest   []string
	}{
		{[]string{"-out", "p.plan"}, "p.plan", "text", nil},
		{[]string{"./config", "-out", "p.plan"}, "p.plan", "text", []string{"./config"}},
		{[]string{"-out", "p.plan", "./config", "-o", "json"}, "p.plan", "json", []string{"./config"}},
		{[]string{"-out=p.plan", "./config"}, "p.plan", "text", []string{"./config"}},
		{[]string{"--out", "p.plan", "./config"}, "p.plan", "text", []string{"./config"}},
		{[]string{"-o", "yaml", "./config"}, "", "yaml", []string{"./config"}},
	} {
		o := outputFlag{format: "text"}
		cmd := &cobra.Command{Use: "plan"}
		o.register(cmd, "")
		cmd.Flags().StringVar(&o.out, "out", "", "")
		if err := cmd.ParseFlags(tc.args); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		rest, err := o.takeOut(cmd.Flags().Args())
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if o.out != tc.out || o.format != tc.format || !slices.Equal(rest, tc.rest) {
			t.Errorf("%v: out %q format %q args %q; want %q %q %q", tc.args, o.out, o.format, rest, tc.out, tc.format, tc.rest)
		}
	}
	o := outputFlag{format: "text"}
	cmd := &cobra.Command{Use: "plan"}
	o.register(cmd, "")
	if err := cmd.ParseFlags([]string{"-out"}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.takeOut(cmd.Flags().Args()); err == nil {
		t.Error("-out without a file: no error")
	}
}
