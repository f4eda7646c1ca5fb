package fakeengine

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"

	"github.com/docker/docker/api/types/versions"
)

// handler serves one route; arg is the path's variable part (an ID, a
// name, or an image reference that may hold slashes).
type handler func(e *Engine, w http.ResponseWriter, r *http.Request, arg string) error

// route maps a method and a path pattern to the client call it serves. In a
// pattern, "{}" is one path segment and "{*}" one or more.
type route struct {
	method  string
	pattern string
	call    string
	h       handler
}

// routes is the API the fake serves, without the /v1.xx prefix.
var routes = []route{
	{"HEAD", "/_ping", "Ping", (*Engine).ping},
	{"GET", "/_ping", "Ping", (*Engine).ping},
	{"GET", "/version", "ServerVersion", (*Engine).serverVersion},
	{"GET", "/info", "Info", (*Engine).info},
	{"GET", "/events", "Events", (*Engine).streamEvents},

	{"GET", "/containers/json", "ContainerList", (*Engine).containerList},
	{"POST", "/containers/create", "ContainerCreate", (*Engine).containerCreate},
	{"GET", "/containers/{}/json", "ContainerInspect", (*Engine).containerInspect},
	{"POST", "/containers/{}/start", "ContainerStart", (*Engine).containerStart},
	{"POST", "/containers/{}/stop", "ContainerStop", (*Engine).containerStop},
	{"POST", "/containers/{}/kill", "ContainerKill", (*Engine).containerKill},
	{"POST", "/containers/{}/pause", "ContainerPause", (*Engine).containerPause},
	{"POST", "/containers/{}/unpause", "ContainerUnpause", (*Engine).containerUnpause},
	{"DELETE", "/containers/{}", "ContainerRemove", (*Engine).containerRemove},
	{"PUT", "/containers/{}/archive", "CopyToContainer", (*Engine).copyTo},
	{"GET", "/containers/{}/archive", "CopyFromContainer", (*Engine).copyFrom},
	{"HEAD", "/containers/{}/archive", "ContainerStatPath", (*Engine).statPath},

	{"GET", "/networks", "NetworkList", (*Engine).networkList},
	{"POST", "/networks/create", "NetworkCreate", (*Engine).networkCreate},
	{"GET", "/networks/{}", "NetworkInspect", (*Engine).networkInspect},
	{"DELETE", "/networks/{}", "NetworkRemove", (*Engine).networkRemove},
	{"POST", "/networks/{}/connect", "NetworkConnect", (*Engine).networkConnect},
	{"POST", "/networks/{}/disconnect", "NetworkDisconnect", (*Engine).networkDisconnect},

	{"GET", "/volumes", "VolumeList", (*Engine).volumeList},
	{"POST", "/volumes/create", "VolumeCreate", (*Engine).volumeCreate},
	{"GET", "/volumes/{}", "VolumeInspect", (*Engine).volumeInspect},
	{"DELETE", "/volumes/{}", "VolumeRemove", (*Engine).volumeRemove},

	{"GET", "/images/json", "ImageList", (*Engine).imageList},
	{"POST", "/images/create", "ImagePull", (*Engine).imagePull},
	{"GET", "/images/get", "ImageSave", (*Engine).imageSave},
	{"POST", "/images/load", "ImageLoad", (*Engine).imageLoad},
	{"GET", "/images/{*}/json", "ImageInspect", (*Engine).imageInspect},
	{"POST", "/images/{*}/tag", "ImageTag", (*Engine).imageTag},
	{"DELETE", "/images/{*}", "ImageRemove", (*Engine).imageRemove},
}

// callNames is the set of call names routes serve.
var callNames = func() map[string]bool {
	m := map[string]bool{}
	for _, rt := range routes {
		m[rt.call] = true
	}
	return m
}()

// match finds the route of a request path (version prefix removed).
func match(method, path string) (*route, string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i := range routes {
		rt := &routes[i]
		if rt.method != method {
			continue
		}
		if arg, ok := matchPattern(strings.Split(strings.Trim(rt.pattern, "/"), "/"), segs); ok {
			return rt, arg
		}
	}
	return nil, ""
}

// matchPattern matches path segments against pattern segments.
func matchPattern(pat, segs []string) (string, bool) {
	for i, p := range pat {
		if p == "{*}" {
			tail := len(pat) - i - 1
			if len(segs)-tail <= i {
				return "", false
			}
			for j := 1; j <= tail; j++ {
				if pat[len(pat)-j] != segs[len(segs)-j] {
					return "", false
				}
			}
			return strings.Join(segs[i:len(segs)-tail], "/"), true
		}
	}
	if len(pat) != len(segs) {
		return "", false
	}
	arg := ""
	for i, p := range pat {
		switch {
		case p == "{}":
			if segs[i] == "" {
				return "", false
			}
			arg = segs[i]
		case p != segs[i]:
			return "", false
		}
	}
	return arg, true
}

// ServeHTTP serves the Engine API: it strips the /v1.xx prefix (refusing
// versions above APIVersion or below 1.24, as dockerd does), counts the
// call, applies latency and injected faults, then runs the route.
func (e *Engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.live.RLock()
	defer e.live.RUnlock()
	select {
	case <-e.done:
		writeError(w, errSystem("fakeengine: engine closed"))
		return
	default:
	}
	h := w.Header()
	h.Set("Server", fmt.Sprintf("Docker/%s (%s)", e.version, runtime.GOOS))
	h.Set("Api-Version", APIVersion)
	h.Set("Ostype", "linux")

	path := r.URL.Path
	if v, rest, ok := versionPrefix(path); ok {
		path = rest
		switch {
		case versions.GreaterThan(v, APIVersion):
			writeError(w, errInvalid("client version %s is too new. Maximum supported API version is %s", v, APIVersion))
			return
		case versions.LessThan(v, minAPIVersion):
			writeError(w, errInvalid("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", v, minAPIVersion))
			return
		}
	}
	rt, arg := match(r.Method, path)
	if rt == nil {
		writeError(w, errNotFound("page not found"))
		return
	}
	e.faults.count(rt.call)
	if !e.faults.delay(r.Context(), e.done, rt.call) {
		return // the client gave up or the engine closed
	}
	if f, ok := e.faults.take(rt.call); ok {
		if f.Hang {
			select {
			case <-r.Context().Done():
			case <-e.done:
			}
			return
		}
		writeError(w, f.err())
		return
	}
	if err := rt.h(e, w, r, arg); err != nil {
		writeError(w, err)
	}
}

// versionPrefix splits "/v1.41/containers/json" into "1.41" and the rest.
func versionPrefix(path string) (string, string, bool) {
	if !strings.HasPrefix(path, "/v") {
		return "", path, false
	}
	seg, rest, _ := strings.Cut(path[2:], "/")
	if seg == "" || strings.Trim(seg, "0123456789.") != "" || !strings.Contains(seg, ".") {
		return "", path, false
	}
	return seg, "/" + rest, true
}

// apiError is an engine error: the HTTP status and the message the real
// engine sends in {"message": ...}.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errInvalid(format string, a ...any) error   { return &apiError{400, fmt.Sprintf(format, a...)} }
func errForbidden(format string, a ...any) error { return &apiError{403, fmt.Sprintf(format, a...)} }
func errNotFound(format string, a ...any) error  { return &apiError{404, fmt.Sprintf(format, a...)} }
func errConflict(format string, a ...any) error  { return &apiError{409, fmt.Sprintf(format, a...)} }
func errSystem(format string, a ...any) error    { return &apiError{500, fmt.Sprintf(format, a...)} }

// errNotModified is the empty 304 answer to starting a running container.
var errNotModified = &apiError{status: http.StatusNotModified}

// writeError sends err the way dockerd does: JSON {"message": ...} with a
// status that the client maps onto errdefs classes.
func writeError(w http.ResponseWriter, err error) {
	ae, ok := err.(*apiError)
	if !ok {
		ae = &apiError{500, err.Error()}
	}
	if ae.status == http.StatusNotModified {
		w.WriteHeader(ae.status)
		return
	}
	writeJSON(w, ae.status, map[string]string{"message": ae.msg})
}

// writeJSON sends v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// readJSON decodes a request body into v; a bad body is a 400, as dockerd.
func readJSON(r *http.Request, v any) error {
	if r.Body == nil || r.ContentLength == 0 {
		return nil
	}
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return errInvalid("invalid JSON: %v", err)
	}
	return nil
}

// boolParam reads a query flag the way dockerd does ("1", "true", ...).
func boolParam(r *http.Request, name string) bool {
	switch strings.ToLower(r.URL.Query().Get(name)) {
	case "", "0", "no", "false", "none":
		return false
	}
	return true
}
