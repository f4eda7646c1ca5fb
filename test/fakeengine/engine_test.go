package fakeengine_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/client"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/test/fakeengine"
)

func TestNegotiation(t *testing.T) {
	e := newEngine(t, fakeengine.Options{TCP: true})
	ctx := testCtx(t)
	for _, host := range []string{e.Host(), e.TCPHost()} {
		cli, err := client.NewClientWithOpts(client.WithHost(host), client.WithAPIVersionNegotiation())
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		v, err := cli.ServerVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := cli.ClientVersion(); got != fakeengine.APIVersion || v.APIVersion != fakeengine.APIVersion || v.Version != fakeengine.DefaultServerVersion {
			t.Errorf("%s: negotiated %s, server says API %s version %s", host, got, v.APIVersion, v.Version)
		}
	}

	// A client fixed at a newer version is refused, as by a 1.41 dockerd.
	pinned, err := client.NewClientWithOpts(client.WithHost(e.Host()), client.WithVersion("1.51"))
	if err != nil {
		t.Fatal(err)
	}
	defer pinned.Close()
	_, err = pinned.ContainerList(ctx, container.ListOptions{})
	if err == nil || !strings.Contains(err.Error(), "client version 1.51 is too new. Maximum supported API version is 1.41") {
		t.Errorf("pinned 1.51 client: %v", err)
	}

	// Without a version prefix the API answers too.
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", strings.TrimPrefix(e.Host(), "unix://"))
	}}}
	resp, err := hc.Get("http://docker/containers/json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "[]" || resp.Header.Get("Api-Version") != "1.41" {
		t.Errorf("unversioned list: %d %q %v", resp.StatusCode, body, resp.Header)
	}
}

func TestLatency(t *testing.T) {
	const delay = 250 * time.Millisecond
	e := newEngine(t, fakeengine.Options{PerCall: map[string]time.Duration{"ContainerList": delay}})
	d := newDriver(t, e)
	ctx := testCtx(t)
	if st := d.Probe(ctx); !st.Reachable {
		t.Fatal(st.Error)
	}
	start := time.Now()
	if _, err := d.Containers().List(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < delay {
		t.Errorf("list took %v, want at least %v", took, delay)
	}
	start = time.Now()
	d.Probe(ctx)
	if took := time.Since(start); took >= delay {
		t.Errorf("probe took %v: the list's latency leaked into other calls", took)
	}

	const base = 40 * time.Millisecond
	e.SetLatency("", base)
	start = time.Now()
	d.Probe(ctx) // ping and version: two calls
	if took := time.Since(start); took < 2*base {
		t.Errorf("probe took %v with %v per call, want at least %v", took, base, 2*base)
	}

	// The client's deadline cuts a delayed call short.
	e.SetLatency("ContainerList", time.Hour)
	sctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := d.Containers().List(sctx); err == nil {
		t.Error("an hour-long list returned")
	}
}

func TestUnreachable(t *testing.T) {
	e := newEngine(t, fakeengine.Options{})
	d := newDriver(t, e)
	ctx := testCtx(t)
	if err := d.Containers().Ensure(ctx, spec("web")); err != nil {
		t.Fatal(err)
	}

	e.Down()
	if st := d.Probe(ctx); st.Reachable || st.Error == "" {
		t.Errorf("probe of a down engine: %+v", st)
	}
	if _, err := d.Containers().List(ctx); !errors.Is(err, drivers.ErrUnreachable) {
		t.Errorf("list on a down engine: %v", err)
	}
	if _, err := d.Events(ctx); !errors.Is(err, drivers.ErrUnreachable) {
		t.Errorf("events on a down engine: %v", err)
	}
	if err := e.Up(); err != nil {
		t.Fatal(err)
	}
	if st := d.Probe(ctx); !st.Reachable {
		t.Errorf("probe after Up: %+v", st)
	}
	if c := listed(t, d, "web"); !c.Running {
		t.Errorf("state lost across Down/Up: %+v", c)
	}

	// An engine answering 500 to everything is reachable but failing.
	e.Inject(fakeengine.AllCalls, -1, fakeengine.Fault{})
	if st := d.Probe(ctx); st.Reachable || !strings.Contains(st.Error, "500 Internal Server Error") {
		t.Errorf("probe of a failing engine: %+v", st)
	}
	if _, err := d.Containers().List(ctx); err == nil || errors.Is(err, drivers.ErrUnreachable) || !strings.Contains(err.Error(), "injected fault") {
		t.Errorf("list on a failing engine: %v", err)
	}
	e.ClearFaults()

	// A wedged engine: the probe gives up at the caller's deadline.
	e.Inject("Ping", -1, fakeengine.Fault{Hang: true})
	pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if st := d.Probe(pctx); st.Reachable {
		t.Errorf("probe of a hanging engine: %+v", st)
	}
	e.ClearFaults()

	// The next two starts fail; the third succeeds.
	e.Inject("ContainerStart", 2, fakeengine.Fault{Status: 500, Message: "boom"})
	for i, want := range []bool{false, false, true} {
		err := d.Containers().Ensure(ctx, spec("try"))
		if (err == nil) != want || err != nil && !strings.Contains(err.Error(), "boom") {
			t.Errorf("attempt %d: %v", i+1, err)
		}
	}
	if n := e.Calls("ContainerStart"); n != 4 {
		t.Errorf("%d starts counted, want 4", n)
	}
}

// TestCloseEndsHangingCalls: Close returns while calls hang and streams
// are open, and those calls fail.
func TestCloseEndsHangingCalls(t *testing.T) {
	e, err := fakeengine.Start(t.TempDir(), fakeengine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cli := newClient(t, e)
	ctx := testCtx(t)
	if _, err := cli.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	msgs, errs := cli.Events(ctx, events.ListOptions{})
	e.Inject("ContainerList", -1, fakeengine.Fault{Hang: true})
	listErr := make(chan error, 1)
	go func() {
		_, err := cli.ContainerList(ctx, container.ListOptions{})
		listErr <- err
	}()
	time.Sleep(50 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- e.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked")
	}
	if err := <-listErr; err == nil {
		t.Error("the hanging list succeeded")
	}
	select {
	case <-msgs:
		t.Error("an event arrived")
	case <-errs:
	case <-time.After(5 * time.Second):
		t.Error("the event stream did not end")
	}
}
