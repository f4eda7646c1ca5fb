package e2e_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// httpGet returns the body of a GET (status 200 only).
func httpGet(url string) (string, error) {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), nil
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestBackupSite applies examples/backup-site with a 5 s interval: the
// service at site-a, the warm standby at site-b. Data written at the
// primary is at the standby within two intervals, byte for byte; a
// restore drill at site-a restores the latest restic snapshot, copied from
// site-b, into a fresh volume, byte-identical; site-a is powered off, a
// commit promotes the standby and the service answers from site-b with
// the last replicated data; site-a is powered on again and becomes the
// standby of site-b, replicating what is written there.
func TestBackupSite(t *testing.T) {
	l := newResearchLab(t, "backup-site", "backup")
	l.secret("backup-rsync", randomHex(t, 24))
	l.secret("backup-restic", randomHex(t, 24))
	const file = "environments/web.jsonnet"
	const interval = 5 * time.Second
	l.edit(file, "interval=60,", "interval=5,")
	l.commit("replicate every 5 s")
	wanClient(t, 201)
	primaryURL, backupURL := "http://198.18.0.1:8081", "http://198.18.0.2:8081"

	start := time.Now()
	l.rensei(0, "apply", "--yes")
	applied := time.Since(start)
	eventually(t, time.Minute, "the service at site-a", func() error { _, err := httpGet(primaryURL + "/healthz"); return err })
	served := time.Since(start)
	l.mustExec("site-a", "web_service_0", "bash", "-c", `mkdir -p /srv/data/docs /srv/data/bin &&
		echo '<h1>v1</h1>' > /srv/data/index.html &&
		head -c 3000000 /dev/urandom > /srv/data/bin/blob.dat &&
		for i in $(seq 1 50); do echo "doc $i" > /srv/data/docs/doc-$i.txt; done &&
		echo 'to be deleted' > /srv/data/old.txt`)
	written := time.Now()
	primarySums := l.sha256Tree("site-a", "web_service_0", "/srv/data")
	sameAtStandby := func() error {
		got, err := l.sha256TreeNow("site-b", "web_standby_0", "/srv/data")
		if err != nil {
			return err
		}
		if got != primarySums {
			return fmt.Errorf("standby has %d files, primary %d (or contents differ)", strings.Count(got, "\n"), strings.Count(primarySums, "\n"))
		}
		return nil
	}
	eventually(t, time.Minute, "the first replicated copy", sameAtStandby)
	figure(t, "backup-site: apply %s; service answering %s after apply started; first replicated copy (53 files, 3 MB) %s after apply started, %s after the data was written",
		seconds(applied), seconds(served), seconds(time.Since(start)), seconds(time.Since(written)))

	// A change (a write, a new file, a deletion) is at the standby within
	// two intervals. index.html keeps its size and its modification time's
	// second: rsync's default quick check (whole seconds) would miss it.
	l.mustExec("site-a", "web_service_0", "bash", "-c", `s=$(stat -c %Y /srv/data/index.html) &&
		echo '<h1>v2</h1>' > /srv/data/index.html && touch -d "@$s.123456789" /srv/data/index.html &&
		echo new > /srv/data/new.txt && rm /srv/data/old.txt`)
	changed := time.Now()
	primarySums = l.sha256Tree("site-a", "web_service_0", "/srv/data")
	eventually(t, 4*interval, "the change at the standby", sameAtStandby)
	lag := time.Since(changed)
	if lag > 2*interval {
		t.Errorf("the change took %s to reach the standby, more than two intervals (%s)", lag, 2*interval)
	}
	figure(t, "backup-site: a change at the primary (write, new file, deletion) byte-identical at the standby after %s (interval %s)", seconds(lag), interval)

	// A snapshot strictly after that copy holds the change.
	lastSnapshot := func() string {
		out, _ := l.exec("site-b", "web_standby_0", "rensei-backup", "status")
		for _, line := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(line, "last-snapshot: "); ok {
				return v
			}
		}
		return ""
	}
	seen := lastSnapshot()
	eventually(t, 4*interval, "a restic snapshot of the changed data", func() error {
		if s := lastSnapshot(); s == seen || s == "never" {
			return fmt.Errorf("last snapshot %q", s)
		}
		return nil
	})

	// Restore drill at the primary's site, into a fresh volume, from the
	// snapshots at the backup site.
	l.edit(file, "  port=8081,\n", "  port=8081,\n  restoreDrill={ site: 'site-a', id: '1' },\n")
	l.commit("restore drill 1 at site-a")
	drill := time.Now()
	l.rensei(0, "apply", "--yes")
	var restored string
	eventually(t, 2*time.Minute, "the restore drill's checksums", func() error {
		out, err := l.exec("site-a", "web_restore-1_0", "cat", "/srv/restore.sha256")
		restored = out
		return err
	})
	if restored != primarySums {
		t.Fatalf("restored files differ from the primary's:\nrestored:\n%s\nprimary:\n%s", restored, primarySums)
	}
	if again := l.sha256Tree("site-a", "web_restore-1_0", "/srv/restore"); again != primarySums {
		t.Fatalf("the restored volume differs from the primary's data")
	}
	if _, err := command("docker", "-H", l.docker["site-a"], "volume", "inspect", "web_restore-1_0_restored"); err != nil {
		t.Errorf("the drill's fresh volume: %v", err)
	}
	figure(t, "backup-site: restore drill at site-a from the snapshots at site-b into a fresh volume: %d files byte-identical, %s from apply",
		strings.Count(restored, "\n"), seconds(time.Since(drill)))

	// Outage of the primary site; promotion by a one-line commit.
	mustRensei(t, 0, "lab", "stop", "site-a")
	outage := time.Now()
	if _, err := httpGet(primaryURL + "/index.html"); err == nil {
		t.Fatal("the primary still answers after its site was powered off")
	}
	l.edit(file, "local primary = 'site-a';", "local primary = 'site-b';")
	l.commit("promote the standby at site-b: site-a is down")
	promoteStart := time.Now()
	r := l.rensei(1, "apply", "--yes")
	if !strings.Contains(r.stdout+r.stderr, "site-a") {
		t.Errorf("apply does not name the unreachable site:\n%s", r)
	}
	var body string
	eventually(t, time.Minute, "the promoted service at site-b", func() error {
		var err error
		body, err = httpGet(backupURL + "/index.html")
		return err
	})
	promoted := time.Since(promoteStart)
	if strings.TrimSpace(body) != "<h1>v2</h1>" {
		t.Fatalf("the promoted service serves %q, want the last replicated <h1>v2</h1>", body)
	}
	if got := l.sha256Tree("site-b", "web_service_0", "/srv/data"); got != primarySums {
		t.Fatalf("the promoted service's data differs from the primary's last state")
	}
	if out := l.mustExec("site-b", "web_service_0", "bash", "-c", "exec 3<>/dev/tcp/198.19.60.10/80; printf 'GET /new.txt HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3"); !strings.Contains(out, "\r\n\r\nnew\n") {
		t.Errorf("the service address 198.19.60.10 on the overlay: %q", out)
	}
	figure(t, "backup-site: promotion: apply of the commit to the service answering at site-b with the last replicated data %s (%s after the power cut)",
		seconds(promoted), seconds(time.Since(outage)))

	// site-a is back: its old service stays down (restart: no) until
	// Rensei replaces it with the standby of site-b.
	mustRensei(t, 0, "lab", "start", "site-a")
	if st := l.state("site-a", "web_service_0"); st == "running" {
		t.Errorf("the old primary at site-a runs again after power-on: two services on one address")
	}
	l.rensei(0, "apply", "--yes")
	l.mustExec("site-b", "web_service_0", "bash", "-c", `echo '<h1>v3</h1>' > /srv/data/index.html`)
	failback := time.Now()
	newSums := l.sha256Tree("site-b", "web_service_0", "/srv/data")
	eventually(t, 4*interval, "site-b's change at the new standby at site-a", func() error {
		got, err := l.sha256TreeNow("site-a", "web_standby_0", "/srv/data")
		if err != nil {
			return err
		}
		if got != newSums {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	figure(t, "backup-site: after power-on site-a is the standby of site-b; a change there replicated in %s", seconds(time.Since(failback)))
	mustRensei(t, 0, "plan", "--detailed-exitcode", "--secrets-dir", l.secrets, l.repo.Dir)
}
