// Package lab runs the emulated multi-site lab on one machine: per site a
// network namespace joined to a shared WAN bridge by a veth pair, and a
// dockerd of its own inside that namespace, loaded with the test image. The
// WAN bridge lives in a namespace of its own (rs-lab-wan), so nothing of the
// lab appears in the root namespace and the host's firewall never sees its
// traffic.
// `rensei lab up|down|status` and the end-to-end tests use it.
//
// Up is idempotent and repairs what is missing; Down removes everything the
// lab made (and only that), also from a partial or broken lab. The package
// needs root, dockerd, nsenter and the host's Docker engine (for the image).
//
// Names are fixed, so site configurations can refer to them: site i (0-based)
// is "site-" + letter, runs in namespace "rs-lab-" + letter with underlay
// address 198.18.0.(i+1)/24 on its eth0 (peer of rs-wan-<letter> on the
// bridge rs-wan in rs-lab-wan), and serves Docker on
// unix://<StateDir>/site-<letter>/docker.sock.
package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rensei-dev/rensei/test/images"
)

const (
	// DefaultSites is the number of sites Up creates when Options.Sites is 0.
	DefaultSites = 3
	// MaxSites is the largest lab Up creates (site-a … site-h).
	MaxSites = 8
	// DefaultStateDir holds sockets, pid files, logs and exec roots.
	DefaultStateDir = "/run/rensei-lab"
	// DefaultDataDir holds each site engine's data root.
	DefaultDataDir = "/var/lib/rensei-lab"
	// WANBridge is the bridge every site's veth is enslaved to; it lives in
	// the lab's own namespace rs-lab-wan (see wanNetns).
	WANBridge = "rs-wan"
	// ManagedLabel marks the containers Status reports.
	ManagedLabel = "io.rensei.managed"

	netnsPrefix = "rs-lab-"
	vethPrefix  = "rs-wan-"
	// hostDocker is the machine's own engine; the lab only reads images from it.
	hostDocker = "unix:///var/run/docker.sock"
)

// Options selects the lab to act on. The zero value means the default lab.
type Options struct {
	Sites    int          // number of sites for Up; 0 means DefaultSites (Status: 0 means what exists)
	Image    string       // image loaded into every site engine; default images.Busybox
	StateDir string       // default DefaultStateDir
	DataDir  string       // default DefaultDataDir
	Log      *slog.Logger // default: discard
}

func (o Options) withDefaults() (Options, error) {
	if o.Sites < 0 || o.Sites > MaxSites {
		return o, fmt.Errorf("lab: sites %d: want 1 to %d", o.Sites, MaxSites)
	}
	if o.Image == "" {
		o.Image = images.Busybox
	}
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir
	}
	if o.DataDir == "" {
		o.DataDir = DefaultDataDir
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// site holds the fixed names of one site.
type site struct {
	letter   byte
	name     string // site-a
	netns    string // rs-lab-a
	veth     string // rs-wan-a, root side of the pair
	underlay netip.Prefix
	stateDir string // <StateDir>/site-a
	dataDir  string // <DataDir>/site-a
	log      *slog.Logger
}

func newSite(o Options, letter byte) site {
	name := "site-" + string(letter)
	return site{
		letter:   letter,
		name:     name,
		netns:    netnsPrefix + string(letter),
		veth:     vethPrefix + string(letter),
		underlay: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, 0, letter - 'a' + 1}), 24),
		stateDir: filepath.Join(o.StateDir, name),
		dataDir:  filepath.Join(o.DataDir, name),
		log:      o.Log.With("site", name),
	}
}

func (s site) socket() string    { return filepath.Join(s.stateDir, "docker.sock") }
func (s site) dockerURL() string { return "unix://" + s.socket() }
func (s site) execRoot() string  { return filepath.Join(s.stateDir, "exec") }
func (s site) pidFile() string   { return filepath.Join(s.stateDir, "docker.pid") }
func (s site) logFile() string   { return filepath.Join(s.stateDir, "dockerd.log") }
func (s site) netnsPath() string { return filepath.Join(netnsDir, s.netns) }

// firstSites returns site-a … the n-th site.
func firstSites(o Options, n int) []site {
	out := make([]site, n)
	for i := range out {
		out[i] = newSite(o, byte('a'+i))
	}
	return out
}

// siteNamed maps "site-b" (or "b") to its site.
func siteNamed(o Options, name string) (site, error) {
	l := strings.TrimPrefix(name, "site-")
	if len(l) != 1 || l[0] < 'a' || l[0] >= 'a'+MaxSites {
		return site{}, fmt.Errorf("lab: site %q: want site-a to site-%c", name, 'a'+MaxSites-1)
	}
	return newSite(o, l[0]), nil
}

// present returns every site of which anything exists: a namespace, a veth,
// a state or data directory, or a dockerd using the state directory. Sorted.
func present(o Options) []site {
	seen := map[byte]bool{}
	add := func(name, prefix string) {
		if l, ok := strings.CutPrefix(name, prefix); ok && len(l) == 1 && l[0] >= 'a' && l[0] <= 'z' {
			seen[l[0]] = true
		}
	}
	if ents, err := os.ReadDir(netnsDir); err == nil {
		for _, e := range ents {
			add(e.Name(), netnsPrefix)
		}
	}
	for _, name := range linkNames(wanNetns, vethPrefix) {
		add(name, vethPrefix)
	}
	for _, dir := range []string{o.StateDir, o.DataDir} {
		if ents, err := os.ReadDir(dir); err == nil {
			for _, e := range ents {
				add(e.Name(), "site-")
			}
		}
	}
	for _, p := range processes() {
		if p.comm == "dockerd" {
			for _, arg := range p.args {
				if rest, ok := strings.CutPrefix(arg, "unix://"+o.StateDir+"/"); ok {
					add(strings.Split(rest, "/")[0], "site-")
				}
			}
		}
	}
	letters := make([]byte, 0, len(seen))
	for l := range seen {
		letters = append(letters, l)
	}
	sort.Slice(letters, func(i, j int) bool { return letters[i] < letters[j] })
	out := make([]site, len(letters))
	for i, l := range letters {
		out[i] = newSite(o, l)
	}
	return out
}

// Up creates or repairs a lab of opts.Sites sites (default 3) and returns its
// status. It is idempotent: what exists and works is kept (a running dockerd
// is not restarted, an image already loaded is not loaded again); what is
// missing or dead is made again. Sites beyond opts.Sites are left alone.
// On error the lab may be partial; Down removes it.
func Up(ctx context.Context, opts Options) (*Status, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if o.Sites == 0 {
		o.Sites = DefaultSites
	}
	if err := prerequisites(); err != nil {
		return nil, err
	}
	start := time.Now()
	o.Log.Info("lab up", "action", "up", "name", fmt.Sprint(o.Sites, " sites"))
	if err := ensureBridge(o.Log); err != nil {
		return nil, err
	}
	img := newImageSource(o.Image)
	defer img.close()
	sites := firstSites(o, o.Sites)
	errs := make([]error, len(sites))
	var wg sync.WaitGroup
	for i, s := range sites {
		wg.Go(func() { errs[i] = upSite(ctx, s, img, o.Image) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	o.Log.Info("lab ready", "action", "up", "name", fmt.Sprint(o.Sites, " sites"), "elapsed", time.Since(start).Round(time.Millisecond))
	return status(ctx, o, sites), nil
}

// upSite brings one site to the wanted state, step by step; each step is
// idempotent.
func upSite(ctx context.Context, s site, img *imageSource, tag string) error {
	if err := ensureNetns(s); err != nil {
		return err
	}
	if err := ensureVeth(s); err != nil {
		return err
	}
	if err := ensureDockerd(ctx, s); err != nil {
		return err
	}
	return ensureImage(ctx, s, img, tag)
}

// Down removes everything Up made for every site present (and for
// opts.Sites, if set): the containers of each site engine, each dockerd and
// every process left in its namespace or using its directories, mounts under
// its directories, the directories, the veths, the namespaces and the WAN
// bridge. It works on a partial or broken lab, keeps going past failures and
// returns them joined. A lab that does not exist is not an error.
func Down(ctx context.Context, opts Options) error {
	o, err := opts.withDefaults()
	if err != nil {
		return err
	}
	sites := present(o)
	for _, s := range firstSites(o, o.Sites) {
		if !containsSite(sites, s) {
			sites = append(sites, s)
		}
	}
	start := time.Now()
	errs := make([]error, len(sites))
	var wg sync.WaitGroup
	for i, s := range sites {
		wg.Go(func() { errs[i] = downSite(ctx, s) })
	}
	wg.Wait()
	errs = append(errs, deleteBridge())
	for _, dir := range []string{o.StateDir, o.DataDir} {
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("lab: %w", err))
		}
	}
	o.Log.Info("lab down", "action", "down", "name", fmt.Sprint(len(sites), " sites"), "elapsed", time.Since(start).Round(time.Millisecond))
	return errors.Join(errs...)
}

func containsSite(sites []site, s site) bool {
	for _, x := range sites {
		if x.letter == s.letter {
			return true
		}
	}
	return false
}

// downSite removes one site, keeping going past failures.
func downSite(ctx context.Context, s site) error {
	var errs []error
	if err := removeContainers(ctx, s); err != nil {
		// A dead engine cannot list its containers; the process sweep
		// below still ends them.
		s.log.Warn("containers not removed", "action", "down", "err", err)
	}
	errs = append(errs, stopDockerd(ctx, s, true, true))
	errs = append(errs, unmountUnder(s.stateDir, s.dataDir))
	for _, dir := range []string{s.stateDir, s.dataDir} {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
		}
	}
	errs = append(errs, deleteVeth(s), deleteNetns(s))
	s.log.Info("site removed", "action", "down")
	return errors.Join(errs...)
}

// StopSite cuts one site's power: its dockerd and every process of its
// engine (containerd, shims, containers) get SIGKILL at once. The namespace,
// link, container records and data stay, so StartSite brings the site back
// as after a reboot: containers with a restart policy start again, others
// stay exited. Stopping a stopped site is not an error.
func StopSite(ctx context.Context, opts Options, name string) error {
	_, s, err := opts.site(name)
	if err != nil {
		return err
	}
	return stopDockerd(ctx, s, false, false)
}

// site returns the options with their defaults and the site of that name.
func (opts Options) site(name string) (Options, site, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return o, site{}, err
	}
	s, err := siteNamed(o, name)
	return o, s, err
}

// StartSite brings one site back: it repairs the namespace, link and dockerd
// like Up does for that site, and waits until the engine answers.
func StartSite(ctx context.Context, opts Options, name string) error {
	o, s, err := opts.site(name)
	if err != nil {
		return err
	}
	if err := prerequisites(); err != nil {
		return err
	}
	if err := ensureBridge(o.Log); err != nil {
		return err
	}
	img := newImageSource(o.Image)
	defer img.close()
	return upSite(ctx, s, img, o.Image)
}

// prerequisites says plainly what is missing to run a lab.
func prerequisites() error {
	if os.Geteuid() != 0 {
		return errors.New("lab: needs root")
	}
	for _, bin := range []string{"dockerd", "nsenter", "containerd"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
	}
	return nil
}
