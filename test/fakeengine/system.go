package fakeengine

import (
	"net/http"
	"runtime"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/system"
)

// ping answers /_ping as dockerd: "OK" (empty for HEAD) with the
// Api-Version header (set by ServeHTTP) that version negotiation reads.
func (e *Engine) ping(w http.ResponseWriter, r *http.Request, _ string) error {
	h := w.Header()
	h.Add("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Add("Pragma", "no-cache")
	h.Set("Builder-Version", "1")
	h.Set("Swarm", "inactive")
	if r.Method == http.MethodHead {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write([]byte("OK"))
	return err
}

// serverVersion answers /version.
func (e *Engine) serverVersion(w http.ResponseWriter, _ *http.Request, _ string) error {
	writeJSON(w, http.StatusOK, types.Version{
		Platform:      struct{ Name string }{Name: "Docker Engine - fakeengine"},
		Version:       e.version,
		APIVersion:    APIVersion,
		MinAPIVersion: minAPIVersion,
		GitCommit:     "fakeengine",
		GoVersion:     runtime.Version(),
		Os:            "linux",
		Arch:          runtime.GOARCH,
		KernelVersion: "fakeengine",
		BuildTime:     time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339Nano),
	})
	return nil
}

// info answers /info with the counts of the model.
func (e *Engine) info(w http.ResponseWriter, _ *http.Request, _ string) error {
	e.mu.Lock()
	in := system.Info{
		ID:                 e.name,
		Name:               e.name,
		Containers:         len(e.containers),
		Images:             len(e.images),
		Driver:             "overlay2",
		DockerRootDir:      "/var/lib/docker",
		OperatingSystem:    "fakeengine",
		OSType:             "linux",
		Architecture:       "x86_64",
		KernelVersion:      "fakeengine",
		ServerVersion:      e.version,
		NCPU:               runtime.NumCPU(),
		MemTotal:           8 << 30,
		IndexServerAddress: "https://index.docker.io/v1/",
		CgroupDriver:       "systemd",
		CgroupVersion:      "2",
		DefaultRuntime:     "runc",
	}
	for _, c := range e.containers {
		switch c.st.status {
		case container.StatePaused:
			in.ContainersPaused++
		case container.StateRunning:
			in.ContainersRunning++
		default:
			in.ContainersStopped++
		}
	}
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, in)
	return nil
}
