package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/invopop/jsonschema"
)

// Values written as text in a configuration (amounts of memory, rates,
// times) are parsed once, where the configuration is decoded, into typed
// values that every later step uses. A value that does not parse keeps
// its text and the reason, and validation reports it with file and line:
// decoding never stops at one bad value.

// Bytes is an amount of memory: a number with a binary unit, "512Mi",
// "2Gi" (Ki, Mi, Gi, Ti; a trailing B is allowed). Units that Docker and
// Kubernetes read differently ("512M" is 512×2²⁰ bytes to Docker and
// 512×10⁶ to Kubernetes, "512m" is 0.512 bytes to Kubernetes) and numbers
// without a unit are refused, not guessed.
type Bytes struct {
	N    int64  // bytes; 0 when unset or invalid
	Text string // as written
	err  error
}

// ParseBytes parses an amount of memory (see Bytes).
func ParseBytes(s string) (int64, error) {
	b := bytesOf(s)
	return b.N, b.err
}

var (
	binaryAmount  = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?) ?([KMGT]i)B?$`)
	anyAmount     = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?) ?([A-Za-z]*)$`)
	ambiguousUnit = map[string]bool{"k": true, "m": true, "g": true, "t": true, "kb": true, "mb": true, "gb": true, "tb": true}
)

func bytesOf(s string) Bytes {
	b := Bytes{Text: s}
	t := strings.TrimSpace(s)
	m := binaryAmount.FindStringSubmatch(t)
	if m == nil {
		parts := anyAmount.FindStringSubmatch(t)
		switch {
		case t == "":
			b.err = errors.New("empty; want e.g. 512Mi or 2Gi")
		case parts == nil:
			b.err = errors.New("not an amount of memory; want e.g. 512Mi or 2Gi")
		case parts[3] == "" || parts[3] == "B" || parts[3] == "b":
			b.err = fmt.Errorf("has no unit; write %sMi or %sGi (binary units only)", parts[1], parts[1])
		case ambiguousUnit[strings.ToLower(parts[3])]:
			b.err = fmt.Errorf("unit %q is ambiguous (Docker reads M as 2²⁰ bytes, Kubernetes as 10⁶; lower-case m is milli); write %sMi, %sGi, …", parts[3], parts[1], parts[1])
		default:
			b.err = fmt.Errorf("unit %q is not a unit of memory; want Ki, Mi, Gi or Ti", parts[3])
		}
		return b
	}
	// go-units does the arithmetic; the unit is checked above, since it
	// would read the ambiguous ones as binary too.
	n, err := units.RAMInBytes(m[1] + strings.TrimSuffix(m[3], "i"))
	if err != nil || n <= 0 {
		b.err = errors.New("not a positive amount of memory; want e.g. 512Mi or 2Gi")
		return b
	}
	b.N = n
	return b
}

// Err says why the text is not an amount, or nil.
func (b Bytes) Err() error { return b.err }

// IsZero reports whether no amount was written.
func (b Bytes) IsZero() bool { return b.Text == "" }

// String is the amount as written.
func (b Bytes) String() string { return b.Text }

// Equal reports whether both are the same text (go-cmp uses it).
func (b Bytes) Equal(o Bytes) bool { return b.Text == o.Text }

// MustBytes returns the amount s, for code that builds configurations
// (tests, templates); it panics on a bad amount.
func MustBytes(s string) Bytes {
	b := bytesOf(s)
	if b.err != nil {
		panic(fmt.Sprintf("memory %q: %v", s, b.err))
	}
	return b
}

// UnmarshalJSON reads a string; a number (no unit) is kept as a problem.
func (b *Bytes) UnmarshalJSON(data []byte) error {
	s, err := textOf(data)
	if err != nil {
		return err
	}
	*b = bytesOf(s)
	return nil
}

// MarshalJSON writes the amount as written.
func (b Bytes) MarshalJSON() ([]byte, error) { return json.Marshal(b.Text) }

// JSONSchema describes the accepted text.
func (Bytes) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", Pattern: binaryAmount.String(),
		Description: "an amount of memory with a binary unit: 512Mi, 2Gi"}
}

// Rate is a bandwidth in tc's notation: kbit, mbit, gbit (bits per
// second) or kbps, mbps, gbps (bytes per second).
type Rate struct {
	BytesPerSecond uint64
	Text           string
	err            error
}

// ParseRate parses a bandwidth and returns bytes per second.
func ParseRate(s string) (uint64, error) {
	r := rateOf(s)
	return r.BytesPerSecond, r.err
}

func rateOf(s string) Rate {
	r := Rate{Text: s}
	t := strings.ToLower(strings.TrimSpace(s))
	for _, u := range []struct {
		suffix string
		mult   float64
	}{
		{"kbit", 1e3 / 8}, {"mbit", 1e6 / 8}, {"gbit", 1e9 / 8}, {"bit", 1.0 / 8},
		{"kbps", 1e3}, {"mbps", 1e6}, {"gbps", 1e9}, {"bps", 1},
	} {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil || v <= 0 {
				break
			}
			r.BytesPerSecond = uint64(v * u.mult)
			return r
		}
	}
	r.err = errors.New("not a bandwidth (want e.g. 100mbit, 1gbit)")
	return r
}

// Err says why the text is not a bandwidth, or nil.
func (r Rate) Err() error { return r.err }

// IsZero reports whether no bandwidth was written.
func (r Rate) IsZero() bool { return r.Text == "" }

// String is the bandwidth as written.
func (r Rate) String() string { return r.Text }

// Equal reports whether both are the same text (go-cmp uses it).
func (r Rate) Equal(o Rate) bool { return r.Text == o.Text }

// UnmarshalJSON reads a string.
func (r *Rate) UnmarshalJSON(data []byte) error {
	s, err := textOf(data)
	if err != nil {
		return err
	}
	*r = rateOf(s)
	return nil
}

// MarshalJSON writes the bandwidth as written.
func (r Rate) MarshalJSON() ([]byte, error) { return json.Marshal(r.Text) }

// JSONSchema describes the accepted text.
func (Rate) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", Description: "a bandwidth: 100mbit, 1gbit, 10mbps"}
}

// Time is a window bound: RFC 3339, or a date (YYYY-MM-DD, midnight UTC).
type Time struct {
	T    time.Time
	Text string
	err  error
}

// ParseTime parses a window bound: RFC 3339, or a date meaning midnight UTC.
func ParseTime(s string) (time.Time, error) {
	t := timeOf(s)
	return t.T, t.err
}

func timeOf(s string) Time {
	out := Time{Text: s}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		out.T = t
		return out
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		out.T = t
		return out
	}
	out.err = errors.New("not a time (want RFC 3339 or YYYY-MM-DD)")
	return out
}

// MustTime returns the time s, for code that builds configurations; it
// panics on a bad time.
func MustTime(s string) Time {
	t := timeOf(s)
	if t.err != nil {
		panic(fmt.Sprintf("time %q: %v", s, t.err))
	}
	return t
}

// Err says why the text is not a time, or nil.
func (t Time) Err() error { return t.err }

// IsZero reports whether no time was written.
func (t Time) IsZero() bool { return t.Text == "" }

// String is the time as written.
func (t Time) String() string { return t.Text }

// Equal reports whether both are the same text (go-cmp uses it).
func (t Time) Equal(o Time) bool { return t.Text == o.Text }

// UnmarshalJSON reads a string.
func (t *Time) UnmarshalJSON(data []byte) error {
	s, err := textOf(data)
	if err != nil {
		return err
	}
	*t = timeOf(s)
	return nil
}

// MarshalJSON writes the time as written.
func (t Time) MarshalJSON() ([]byte, error) { return json.Marshal(t.Text) }

// JSONSchema describes the accepted text.
func (Time) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", Description: "RFC 3339 time, or a date YYYY-MM-DD (midnight UTC)"}
}

// textOf reads a JSON string, or the text of a JSON number (kept so that
// validation can say it lacks a unit).
func textOf(data []byte) (string, error) {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(data, &n); err == nil {
		return n.String(), nil
	}
	return "", errors.New("want a string")
}

// Bounds returns the window's ends; a zero time means unbounded on that side.
func (w *Window) Bounds() (from, until time.Time) {
	if w == nil {
		return
	}
	return w.From.T, w.Until.T
}

// Blocks splits a network's subnet into the static block (the first one,
// kept for static addresses) and the per-host blocks Rensei hands out.
func (n Network) Blocks() (static netip.Prefix, hosts []netip.Prefix, err error) {
	subnet, err := netip.ParsePrefix(n.Subnet)
	if err != nil || !subnet.Addr().Is4() {
		return static, nil, fmt.Errorf("subnet %q is not an IPv4 CIDR", n.Subnet)
	}
	if subnet.Masked() != subnet {
		return static, nil, fmt.Errorf("subnet %q has host bits set (did you mean %s?)", n.Subnet, subnet.Masked())
	}
	bits := n.HostPrefix
	if bits == 0 {
		bits = subnet.Bits() + 3
	}
	if bits <= subnet.Bits() || bits > 29 {
		return static, nil, fmt.Errorf("hostPrefix /%d must be longer than the subnet's /%d and at most /29", bits, subnet.Bits())
	}
	if bits-subnet.Bits() > 12 {
		return static, nil, fmt.Errorf("hostPrefix /%d splits %s into more than %d blocks; use a shorter hostPrefix", bits, subnet, MaxHostBlocks)
	}
	count := 1 << (bits - subnet.Bits())
	base := subnet.Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	size := uint32(1) << (32 - bits)
	blocks := make([]netip.Prefix, count)
	for i := range blocks {
		a := start + uint32(i)*size
		blocks[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), bits)
	}
	return blocks[0], blocks[1:], nil
}
