package place

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/rensei-dev/rensei/drivers"
	"github.com/rensei-dev/rensei/schema"
)

// The digests placement stores in labels (io.rensei.spec-hash,
// io.rensei.spec-fields, io.rensei.content) are SHA-256 sums of JSON
// encodings. They are on live containers and compared with the desired
// ones on every pass: the bytes hashed must never change, or every
// container looks changed and is recreated on upgrade. The container
// digests below write those bytes themselves, exactly as encoding/json
// does (TestDigesterMatchesJSON, TestDigestsPinned), into one reused
// buffer: encoding/json's reflection was most of placement's time.

// specDigest hashes a spec's JSON encoding, labels excluded (callers pass
// specs whose Labels are still nil).
func specDigest(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // specs are plain data
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// digester computes a container's digests with buffers reused from one
// container to the next. Not safe for concurrent use.
type digester struct {
	buf    []byte // the JSON being hashed
	fields []byte // the spec-fields label being built
	// last holds, per field, the last encoding hashed and its digest:
	// instances of one group are sealed one after the other and share
	// most fields (command, resources, restart, security, stop).
	last []fieldMemo
}

// fieldMemo is a field's last encoding and the hex of its digest.
type fieldMemo struct {
	json []byte
	hex  [8]byte
}

// spec is specDigest(c) with c's labels left out (as if nil).
func (d *digester) spec(c *drivers.ContainerSpec) string {
	d.buf = appendContainer(d.buf[:0], c)
	sum := sha256.Sum256(d.buf)
	return hex.EncodeToString(sum[:8])
}

// fieldDigests renders "field=digest" pairs in containerFields' order;
// the image is kept verbatim so a plan can say "image changed: a → b".
// Each digest is the first 8 hex digits of specDigest of the field's value.
func (d *digester) fieldDigests(c *drivers.ContainerSpec) string {
	f := d.fields[:0]
	if d.last == nil {
		d.last = make([]fieldMemo, len(containerFields))
	}
	for i, field := range containerFields {
		if i > 0 {
			f = append(f, ';')
		}
		f = append(f, field.name...)
		f = append(f, '=')
		if field.encode == nil {
			f = append(f, c.Image...)
			continue
		}
		d.buf = field.encode(d.buf[:0], c)
		last := &d.last[i]
		if last.json == nil || !bytes.Equal(d.buf, last.json) {
			sum := sha256.Sum256(d.buf)
			hex.Encode(last.hex[:], sum[:4])
			last.json = append(last.json[:0], d.buf...)
		}
		f = append(f, last.hex[:]...)
	}
	d.fields = f
	return string(f)
}

// contentTail is the JSON of what contentDigest hashes for the instances
// of g after the instance's name: the same for every instance, so it is
// encoded once per group.
type contentTail []byte

// contentPrefix is how contentDigest's encoding begins, up to the
// instance's name.
const contentPrefix = `{"Instance":`

func newContentTail(g *schema.Group) contentTail {
	b, err := json.Marshal(contentOf(g, ""))
	if err != nil {
		panic(err) // plain data
	}
	return contentTail(b[len(contentPrefix+`""`):])
}

// content is contentDigest(g, inst) for the g that tail was made of.
func (d *digester) content(tail contentTail, inst string) string {
	b := append(d.buf[:0], contentPrefix...)
	b = appendString(b, inst)
	b = append(b, tail...)
	d.buf = b
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// contentOf is what the io.rensei.content label digests: what an
// instance of g holds with every name left out (environment, group, host,
// Docker network and volume names), so that equal digests under different
// names mean a rename.
func contentOf(g *schema.Group, inst string) any {
	return struct {
		Instance  string
		Image     string
		Command   []string
		Env       map[string]string
		Resources schema.Resources
		Restart   string
		Networks  []schema.Attachment
		Volumes   []schema.Volume
		Files     []schema.File
		Ports     []schema.Port
	}{inst, g.Image, g.Command, g.Env, g.Resources, g.Restart, g.Networks, g.Volumes, g.Files, g.Ports}
}

// appendContainer appends the JSON encoding of c (drivers.ContainerSpec's
// fields, tags and omitempty rules) with "labels": null.
func appendContainer(b []byte, c *drivers.ContainerSpec) []byte {
	b = append(b, `{"name":`...)
	b = appendString(b, c.Name)
	b = append(b, `,"hostname":`...)
	b = appendString(b, c.Hostname)
	b = append(b, `,"image":`...)
	b = appendString(b, c.Image)
	if len(c.Command) > 0 {
		b = append(b, `,"command":`...)
		b = appendStrings(b, c.Command)
	}
	if len(c.Env) > 0 {
		b = append(b, `,"env":`...)
		b = appendStrings(b, c.Env)
	}
	b = append(b, `,"labels":null,"restart":`...)
	b = appendString(b, c.Restart)
	if c.NanoCPUs != 0 {
		b = append(b, `,"nanoCpus":`...)
		b = strconv.AppendInt(b, c.NanoCPUs, 10)
	}
	if c.Memory != 0 {
		b = append(b, `,"memory":`...)
		b = strconv.AppendInt(b, c.Memory, 10)
	}
	if len(c.Networks) > 0 {
		b = append(b, `,"networks":`...)
		b = appendAttachments(b, c.Networks)
	}
	if len(c.Mounts) > 0 {
		b = append(b, `,"mounts":`...)
		b = appendMounts(b, c.Mounts)
	}
	if len(c.Files) > 0 {
		b = append(b, `,"files":`...)
		b = appendFiles(b, c.Files)
	}
	if len(c.Ports) > 0 {
		b = append(b, `,"ports":`...)
		b = appendPorts(b, c.Ports)
	}
	b = append(b, `,"security":`...)
	b = appendSecurity(b, c.Security)
	if c.StopSignal != "" {
		b = append(b, `,"stopSignal":`...)
		b = appendString(b, c.StopSignal)
	}
	if c.StopTimeout != 0 {
		b = append(b, `,"stopTimeout":`...)
		b = strconv.AppendInt(b, int64(c.StopTimeout), 10)
	}
	return append(b, '}')
}

// appendList appends a JSON array of n elements (null when list is nil,
// as encoding/json writes a nil slice).
func appendList(b []byte, isNil bool, n int, elem func(b []byte, i int) []byte) []byte {
	if isNil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = elem(b, i)
	}
	return append(b, ']')
}

func appendStrings(b []byte, ss []string) []byte {
	return appendList(b, ss == nil, len(ss), func(b []byte, i int) []byte { return appendString(b, ss[i]) })
}

func appendAttachments(b []byte, as []drivers.NetworkAttach) []byte {
	return appendList(b, as == nil, len(as), func(b []byte, i int) []byte {
		a := &as[i]
		b = append(b, `{"network":`...)
		b = appendString(b, a.Network)
		if a.IPv4 != "" {
			b = append(b, `,"ipv4":`...)
			b = appendString(b, a.IPv4)
		}
		if len(a.Aliases) > 0 {
			b = append(b, `,"aliases":`...)
			b = appendStrings(b, a.Aliases)
		}
		return append(b, '}')
	})
}

func appendMounts(b []byte, ms []drivers.Mount) []byte {
	return appendList(b, ms == nil, len(ms), func(b []byte, i int) []byte {
		m := &ms[i]
		b = append(b, `{"volume":`...)
		b = appendString(b, m.Volume)
		b = append(b, `,"target":`...)
		b = appendString(b, m.Target)
		if m.ReadOnly {
			b = append(b, `,"readOnly":true`...)
		}
		return append(b, '}')
	})
}

func appendFiles(b []byte, fs []drivers.File) []byte {
	return appendList(b, fs == nil, len(fs), func(b []byte, i int) []byte {
		f := &fs[i]
		b = append(b, `{"path":`...)
		b = appendString(b, f.Path)
		b = append(b, `,"content":`...)
		b = appendString(b, f.Content)
		b = append(b, `,"mode":`...)
		b = strconv.AppendInt(b, f.Mode, 10)
		return append(b, '}')
	})
}

func appendPorts(b []byte, ps []drivers.PortBinding) []byte {
	return appendList(b, ps == nil, len(ps), func(b []byte, i int) []byte {
		p := &ps[i]
		b = append(b, `{"container":`...)
		b = strconv.AppendInt(b, int64(p.Container), 10)
		if p.Host != 0 {
			b = append(b, `,"host":`...)
			b = strconv.AppendInt(b, int64(p.Host), 10)
		}
		b = append(b, `,"protocol":`...)
		b = appendString(b, p.Protocol)
		if p.HostIP != "" {
			b = append(b, `,"hostIp":`...)
			b = appendString(b, p.HostIP)
		}
		return append(b, '}')
	})
}

func appendSecurity(b []byte, s drivers.Security) []byte {
	b = append(b, '{')
	comma := false
	key := func(name string) {
		if comma {
			b = append(b, ',')
		}
		comma = true
		b = append(b, name...)
	}
	if s.PidsLimit != 0 {
		key(`"pidsLimit":`)
		b = strconv.AppendInt(b, s.PidsLimit, 10)
	}
	if s.NoNewPrivileges {
		key(`"noNewPrivileges":true`)
	}
	if s.LogMaxSize != "" {
		key(`"logMaxSize":`)
		b = appendString(b, s.LogMaxSize)
	}
	if s.LogMaxFiles != 0 {
		key(`"logMaxFiles":`)
		b = strconv.AppendInt(b, int64(s.LogMaxFiles), 10)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string the way json.Marshal writes it.
// Printable ASCII, valid UTF-8 and the usual escapes are written here;
// anything else (other control characters, the HTML characters < > &
// that json.Marshal escapes, U+2028, U+2029, invalid UTF-8) is left to
// json.Marshal itself, so the bytes are its bytes whatever its version.
func appendString(b []byte, s string) []byte {
	mark := len(b)
	b = append(b, '"')
	start := 0 // s[start:i] is still to be appended
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf && plainJSON[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError || r == '\u2028' || r == '\u2029' {
				return marshalString(b[:mark], s)
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			return marshalString(b[:mark], s)
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plainJSON are the ASCII bytes json.Marshal writes as they are.
var plainJSON = func() (t [utf8.RuneSelf]bool) {
	for c := byte(0x20); c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

func marshalString(b []byte, s string) []byte {
	enc, err := json.Marshal(s)
	if err != nil {
		panic(err) // a string always encodes
	}
	return append(b, enc...)
}
