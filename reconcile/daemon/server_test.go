package daemon

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestServerHoldsUp drives the HTTP server with slow and greedy clients on
// loopback: a client that never finishes its headers, one that trickles a
// body, and one that keeps an idle connection are cut off in bounded
// time; more connections than the limit wait rather than pile up; an
// oversized body is refused; and a well-behaved request still succeeds.
func TestServerHoldsUp(t *testing.T) {
	lim := Limits{MaxConnections: 4, ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 600 * time.Millisecond,
		WriteTimeout: time.Second, IdleTimeout: 300 * time.Millisecond, MaxHeaderBytes: 4 << 10}
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/body", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		io.WriteString(w, "read")
	})
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &countingListener{Listener: inner}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, http.MaxBytesHandler(mux, 1<<10), lim) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	addr := ln.Addr().String()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// closedWithin reports how long the server took to close c (reads
	// until EOF or error), failing when it takes longer than limit.
	closedWithin := func(what string, c net.Conn, limit time.Duration) {
		t.Helper()
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, c)
		if took := time.Since(start); took > limit {
			t.Errorf("%s held for %s, want at most %s", what, took, limit)
		} else {
			t.Logf("%s cut off after %s", what, took.Round(time.Millisecond))
		}
	}

	slowHeader := dial()
	fmt.Fprint(slowHeader, "GET /ok HTTP/1.1\r\nHost: x\r\n") // never ends the headers
	closedWithin("a client that never finishes its headers", slowHeader, time.Second)

	slowBody := dial()
	fmt.Fprint(slowBody, "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
	closedWithin("a client that trickles its body", slowBody, 1500*time.Millisecond)

	idle := dial()
	fmt.Fprint(idle, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("a normal request: %v %v", resp, err)
	}
	resp.Body.Close()
	closedWithin("an idle kept-alive connection", idle, time.Second)

	big := strings.Repeat("x", 4<<10)
	r, err := http.Post("http://"+addr+"/body", "text/plain", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a 4 KiB body over a 1 KiB limit: %d, want 413", r.StatusCode)
	}

	// Twenty slow clients against a limit of four: the server holds at
	// most four connections at once, the rest wait in the kernel's queue,
	// and every one is cut off in bounded time.
	var wg sync.WaitGroup
	start := time.Now()
	for range 20 {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return
			}
			defer c.Close()
			fmt.Fprint(c, "GET /ok HTTP/1.1\r\nHost: x\r\n") // slow headers
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			io.Copy(io.Discard, c)
		})
	}
	wg.Wait()
	took := time.Since(start)
	t.Logf("20 slow clients: at most %d connections held at once, all cut off in %s", ln.most(), took.Round(time.Millisecond))
	if most := ln.most(); most > lim.MaxConnections {
		t.Errorf("%d connections held at once, over the limit of %d", most, lim.MaxConnections)
	}
	if took > 5*time.Second {
		t.Errorf("20 slow clients took %s to be cut off, want under 5 s (5 rounds of 4 × 300 ms)", took)
	}
	ok, err := http.Get("http://" + addr + "/ok")
	if err != nil || ok.StatusCode != 200 {
		t.Fatalf("after the slow clients, a normal request: %v %v", ok, err)
	}
	ok.Body.Close()
}

// countingListener counts the connections the server holds open.
type countingListener struct {
	net.Listener
	mu           sync.Mutex
	open, maxNow int
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.open++
	l.maxNow = max(l.maxNow, l.open)
	l.mu.Unlock()
	return &countedConn{Conn: c, l: l}, nil
}

func (l *countingListener) most() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.maxNow
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
