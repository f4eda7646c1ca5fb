package lab

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// proc is one process as /proc shows it.
type proc struct {
	pid, ppid int
	comm      string
	state     byte
	args      []string
	netDev    uint64
	netIno    uint64
}

func (p proc) hasArg(a string) bool {
	for _, x := range p.args {
		if x == a {
			return true
		}
	}
	return false
}

// refersTo reports whether an argument names dir or a path under it
// (also as the value of a --flag=dir argument).
func (p proc) refersTo(dir string) bool {
	for _, a := range p.args {
		if a == dir || strings.HasSuffix(a, "="+dir) || strings.Contains(a, dir+"/") {
			return true
		}
	}
	return false
}

// processes reads the process table; processes that end meanwhile are skipped.
func processes() []proc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, ok := readProc(pid)
		if ok {
			out = append(out, p)
		}
	}
	return out
}

func readProc(pid int) (proc, bool) {
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return proc{}, false
	}
	// "pid (comm) state ppid …"; comm may hold spaces and parentheses.
	open, closing := strings.IndexByte(string(stat), '('), strings.LastIndexByte(string(stat), ')')
	if open < 0 || closing < open {
		return proc{}, false
	}
	rest := strings.Fields(string(stat[closing+1:]))
	if len(rest) < 2 {
		return proc{}, false
	}
	p := proc{pid: pid, comm: string(stat[open+1 : closing]), state: rest[0][0]}
	p.ppid, _ = strconv.Atoi(rest[1])
	if cmdline, err := os.ReadFile(dir + "/cmdline"); err == nil {
		p.args = strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	}
	var st syscall.Stat_t
	if syscall.Stat(dir+"/ns/net", &st) == nil {
		p.netDev, p.netIno = st.Dev, st.Ino
	}
	return p, true
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	p, ok := readProc(pid)
	return ok && p.state != 'Z' && p.state != 'X'
}

// daemonComms are the programs a site's dockerd runs on its own behalf.
var daemonComms = []string{"dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2", "runc", "docker-proxy", "docker-init"}

// siteProcesses returns the live processes the lab left for a site: the
// Docker daemons, shims and helpers working on its directories, with
// inNetns also every process inside its namespace, and all their
// descendants (container processes). Never this process, its ancestors or
// init.
func siteProcesses(s site, inNetns bool) []int {
	table := processes()
	var ns syscall.Stat_t
	haveNs := false
	if live, _ := isNetns(s.netnsPath()); inNetns && live && syscall.Stat(s.netnsPath(), &ns) == nil {
		haveNs = true
	}
	spared := map[int]bool{1: true}
	byPid := map[int]proc{}
	children := map[int][]int{}
	for _, p := range table {
		byPid[p.pid] = p
		children[p.ppid] = append(children[p.ppid], p.pid)
	}
	for pid := os.Getpid(); pid > 1; pid = byPid[pid].ppid {
		spared[pid] = true
		if _, ok := byPid[pid]; !ok {
			break
		}
	}
	picked := map[int]bool{}
	var walk func(pid int)
	walk = func(pid int) {
		if picked[pid] || spared[pid] {
			return
		}
		picked[pid] = true
		for _, c := range children[pid] {
			walk(c)
		}
	}
	for _, p := range table {
		inNs := haveNs && p.netIno == ns.Ino && p.netDev == ns.Dev
		isDaemon := false
		for _, c := range daemonComms {
			if strings.HasPrefix(p.comm, c) && (p.refersTo(s.stateDir) || p.refersTo(s.dataDir)) {
				isDaemon = true
			}
		}
		if inNs || isDaemon {
			walk(p.pid)
		}
	}
	var out []int
	for pid := range picked {
		if p := byPid[pid]; p.state != 'Z' && p.state != 'X' {
			out = append(out, pid)
		}
	}
	sort.Ints(out)
	return out
}

// unmountUnder detaches every mount at or below the given directories,
// deepest first, and fails if any remains.
func unmountUnder(dirs ...string) error {
	var left []string
	for range 4 {
		left = mountsUnder(dirs)
		if len(left) == 0 {
			return nil
		}
		for _, mp := range left {
			if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("unmount %s: %w", mp, err)
			}
		}
	}
	if left = mountsUnder(dirs); len(left) > 0 {
		return fmt.Errorf("unmount: still mounted: %s", strings.Join(left, ", "))
	}
	return nil
}

// mountsUnder lists mount points at or below dirs, longest first.
func mountsUnder(dirs []string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		for _, d := range dirs {
			if mp == d || strings.HasPrefix(mp, d+"/") {
				out = append(out, mp)
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for space, …).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
