// Package notify tells people what the daemon found and did: drift, repairs,
// refused or held revisions, failed passes, hosts lost and back, overlay
// links broken and recovered. It delivers to a generic JSON webhook
// (optionally signed with HMAC-SHA256) and to Slack-compatible incoming
// webhooks ({"text": …}), the two providers of Flux's
// notification-controller that need nothing but HTTP.
//
// Delivery never slows a reconcile pass: Notify only queues. Each target
// has its own queue and sender; a burst of events is coalesced into one
// message, messages to a target are at least Options.MinInterval apart
// (rate limiting), and a failed delivery is retried a bounded number of
// times with exponential backoff. Target URLs and secrets are never
// logged, and errors that would quote a URL are stripped of it.
package notify

import (
	"fmt"
	"strings"
	"time"
)

// Kind is what happened.
type Kind string

const (
	Applied   Kind = "applied"   // a new revision was applied
	Drift     Kind = "drift"     // objects found not in their desired state and not (all) repaired
	Repaired  Kind = "repaired"  // drift found and repaired in the same pass
	Refused   Kind = "refused"   // a revision not applied: invalid, unsigned, …
	Held      Kind = "held"      // a revision waiting for an approval (prune, rewind)
	Failed    Kind = "failed"    // steps failed, or a host could not be reached, or a pass could not run
	Recovered Kind = "recovered" // a host or pass that failed works again
	LinkDown  Kind = "link-down" // an overlay link stopped passing traffic (or full-size packets)
	LinkUp    Kind = "link-up"   // an overlay link passes traffic again
)

// Severity ranks an event: info, warning or error.
type Severity string

const (
	Info    Severity = "info"
	Warning Severity = "warning"
	Error   Severity = "error"
)

// Event is one thing worth telling. Host is "site/host" when the event is
// about one host; Commit is the config commit it concerns.
type Event struct {
	Time     time.Time `json:"time"`
	Kind     Kind      `json:"kind"`
	Severity Severity  `json:"severity"`
	Host     string    `json:"host,omitempty"`
	Env      string    `json:"env,omitempty"`
	Commit   string    `json:"commit,omitempty"`
	Message  string    `json:"message"`
	Details  []string  `json:"details,omitempty"`
}

// String is one line: "site-a/docker repaired: 1 object drifted and was repaired".
func (e Event) String() string {
	if e.Host == "" {
		return fmt.Sprintf("%s: %s", e.Kind, e.Message)
	}
	return fmt.Sprintf("%s %s: %s", e.Host, e.Kind, e.Message)
}

// slackText renders a batch for Slack: a headline, then one line per
// event with its first details.
func slackText(source string, events []Event, dropped int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%s*: %d event(s)", source, len(events))
	if dropped > 0 {
		fmt.Fprintf(&b, " (%d older ones dropped)", dropped)
	}
	b.WriteString("\n")
	for _, e := range events {
		fmt.Fprintf(&b, "• [%s] %s", e.Severity, e.String())
		if e.Commit != "" {
			fmt.Fprintf(&b, " (config %s)", short(e.Commit))
		}
		b.WriteString("\n")
		for i, d := range e.Details {
			if i == 5 {
				fmt.Fprintf(&b, "    … %d more\n", len(e.Details)-i)
				break
			}
			fmt.Fprintf(&b, "    %s\n", d)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
