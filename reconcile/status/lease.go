package status

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/rensei-dev/rensei/reconcile/gitrepo"
)

// A Lease says which daemon enforces a host until when. Leases live on the
// status branch (leases/<site>/<host>.json) beside the reports, so two
// daemons sharing a remote (another branch, overlapping --hosts) never
// enforce the same host: the second refuses the hosts the first holds and
// says which daemon holds them, until the lease expires unrenewed. The
// branch's compare-and-swap makes a claim atomic: of two daemons claiming
// the same free host, one push wins and the other sees its lease.
type Lease struct {
	Host    string    `json:"host"` // "site/host"
	Holder  Holder    `json:"holder"`
	Since   time.Time `json:"since"`   // when this holder acquired it
	Expires time.Time `json:"expires"` // renewed at every pass past half its time
}

// Holder identifies a daemon.
type Holder struct {
	// ID is unique per daemon process (machine, process, start).
	ID      string `json:"id"`
	Machine string `json:"machine"`
	PID     int    `json:"pid"`
	// Branch is the config branch it enforces.
	Branch string `json:"branch"`
}

// NewHolder identifies this process, enforcing branch. instance, when
// not empty, names the daemon beyond this process (its state directory,
// which one daemon at a time may use): a daemon restarted on it is the
// same holder and takes its leases back at once, while any other waits
// for them to expire. Empty: this process only.
func NewHolder(branch, instance string) Holder {
	machine, err := os.Hostname()
	if err != nil {
		machine = "unknown"
	}
	id := fmt.Sprintf("%s/%d/%s", machine, os.Getpid(), rand.Text()[:8])
	if instance != "" {
		sum := sha256.Sum256([]byte(machine + "\x00" + instance))
		id = machine + "/" + hex.EncodeToString(sum[:6])
	}
	return Holder{ID: id, Machine: machine, PID: os.Getpid(), Branch: branch}
}

func (h Holder) String() string {
	return fmt.Sprintf("the daemon enforcing %q on %s (pid %d)", h.Branch, h.Machine, h.PID)
}

// leasePath is a host's lease on the status branch.
func leasePath(key string) string {
	site, host := SplitKey(key)
	return "leases/" + site + "/" + host + ".json"
}

// Claim is the outcome of claiming hosts.
type Claim struct {
	// Held are the hosts this daemon holds now, with their expiry.
	Held map[string]time.Time
	// Others are the hosts another daemon holds.
	Others map[string]Lease
	// Taken are the hosts acquired by this claim from an expired lease of
	// another daemon (takeovers), with that lease.
	Taken map[string]Lease
}

// Claim acquires or renews the leases of hosts ("site/host") for me until
// now+ttl: free hosts, expired leases and its own leases past half their
// time are written (one commit, none when nothing changed); hosts another
// daemon holds are returned in Others. release ends the leases of me for
// hosts instead (a daemon that stops lets another take over at once).
func (p *Publisher) Claim(ctx context.Context, me Holder, hosts []string, ttl time.Duration, now time.Time) (Claim, error) {
	return p.lease(ctx, me, hosts, ttl, now, false)
}

// Release ends the leases me holds on hosts.
func (p *Publisher) Release(ctx context.Context, me Holder, hosts []string, now time.Time) error {
	_, err := p.lease(ctx, me, hosts, 0, now, true)
	return err
}

func (p *Publisher) lease(ctx context.Context, me Holder, hosts []string, ttl time.Duration, now time.Time, release bool) (Claim, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.defaults()
	var c Claim
	// Contended hosts are read fresh: another daemon may have released them.
	u := gitrepo.Update{Fetch: !p.fetched || p.contended, Attempts: p.Attempts, Backoff: p.Backoff, Fetched: p.Fetched, Log: p.Log}
	h, err := p.Remote.UpdateBranch(ctx, p.Branch, u, func(f *gitrepo.Files) (string, error) {
		c = Claim{Held: map[string]time.Time{}, Others: map[string]Lease{}, Taken: map[string]Lease{}}
		var msg []string
		for _, key := range slices.Sorted(slices.Values(hosts)) {
			cur, err := readLease(f, key)
			if err != nil {
				// Unreadable: reported, and overwritten by the claim.
				p.Log.Warn("status branch: unreadable lease replaced", "host", key, "err", err)
			}
			mine := cur != nil && cur.Holder.ID == me.ID
			live := cur != nil && cur.Expires.After(now)
			switch {
			case release:
				if mine && live {
					l := *cur
					l.Expires = now
					f.Write(leasePath(key), leaseJSON(l))
					msg = append(msg, key+" released")
				}
				continue
			case live && !mine:
				c.Others[key] = *cur
				continue
			case mine && live && cur.Expires.Sub(now) > ttl/2:
				c.Held[key] = cur.Expires
				continue
			}
			l := Lease{Host: key, Holder: me, Since: now.UTC(), Expires: now.Add(ttl).UTC()}
			switch {
			case mine && live:
				l.Since = cur.Since
			case cur != nil && !mine:
				c.Taken[key] = *cur
				msg = append(msg, fmt.Sprintf("%s taken over (the lease of %s expired %s)", key, cur.Holder, cur.Expires.Format(time.RFC3339)))
			default:
				msg = append(msg, key+" acquired")
			}
			f.Write(leasePath(key), leaseJSON(l))
			c.Held[key] = l.Expires
		}
		if len(msg) == 0 {
			return "", nil
		}
		return fmt.Sprintf("lease: %s\n\n%s", me.Machine, strings.Join(msg, "\n")), nil
	})
	p.fetched = p.fetched || err == nil
	if err != nil {
		return Claim{}, fmt.Errorf("status branch %s: leases: %w", p.Branch, err)
	}
	p.contended = len(c.Others) > 0
	if h != "" {
		p.commits.Add(1)
	}
	return c, nil
}

func readLease(f *gitrepo.Files, key string) (*Lease, error) {
	b, err := f.Read(leasePath(key))
	if err != nil || b == nil {
		return nil, err
	}
	var l Lease
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("%s: %w", leasePath(key), err)
	}
	return &l, nil
}

func leaseJSON(l Lease) []byte {
	b, _ := json.MarshalIndent(l, "", "  ")
	return append(b, '\n')
}
