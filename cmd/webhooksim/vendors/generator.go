package vendors

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultFamily is the family chosen for a vendor that needs one when none is given.
var DefaultFamily = map[string]string{"incode": "onboarding_status"}

// Vendors returns the vendor names of the catalog, sorted.
func Vendors() []string {
	var out []string
	for _, e := range catalog {
		if !slices.Contains(out, e.Vendor) {
			out = append(out, e.Vendor)
		}
	}
	slices.Sort(out)
	return out
}

// Select returns the events of vendor and family, optionally only the one named name.
// An empty family selects every event of a single-family vendor, all shapes of
// unico_magiclink (its combined preset tells them apart), and DefaultFamily for Incode.
// Event names match case-insensitively, with spaces and dashes read as underscores, so
// IDWise's "Finished Journey" selects finished_journey.
func Select(vendor, family, name string) ([]Event, error) {
	if !slices.Contains(Vendors(), vendor) {
		return nil, fmt.Errorf("unknown vendor %q (want one of: %s)", vendor, strings.Join(Vendors(), ", "))
	}
	if family == "" {
		family = DefaultFamily[vendor]
	}
	var out []Event
	for _, e := range catalog {
		if e.Vendor == vendor && (family == "" || e.Family == family) {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("unknown %s event family %q (want one of: %s)", vendor, family, strings.Join(families(vendor), ", "))
	}
	if name == "" {
		return out, nil
	}
	want := normalize(name)
	for _, e := range out {
		if normalize(e.Name) == want {
			return []Event{e}, nil
		}
	}
	names := make([]string, len(out))
	for i, e := range out {
		names[i] = e.Name
	}
	return nil, fmt.Errorf("unknown %s event %q (want one of: %s)", vendor, name, strings.Join(names, ", "))
}

// families lists the families of vendor that the catalog has, sorted.
func families(vendor string) []string {
	var out []string
	for _, e := range catalog {
		if e.Vendor == vendor && e.Family != "" && !slices.Contains(out, e.Family) {
			out = append(out, e.Family)
		}
	}
	slices.Sort(out)
	return out
}

// normalize folds an event name for matching.
func normalize(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-':
			return '_'
		}
		if 'A' <= r && r <= 'Z' {
			return r - 'A' + 'a'
		}
		return r
	}, strings.TrimSpace(s))
}

// Message is one rendered webhook.
type Message struct {
	// Event is the catalog entry it was rendered from.
	Event *Event
	// IDs are the ids it was rendered with; IDs.MessageID is its Standard Webhooks id.
	IDs IDs
	// Body is the JSON body. It is never modified after Next returns it.
	Body []byte
}

// Generator renders messages from a weighted set of events. It is safe for concurrent
// use: every call of Next gets the next sequence number.
type Generator struct {
	events []Event
	cum    []int // cumulative weights
	nonce  uint64
	seq    atomic.Uint64
	now    func() time.Time
}

// NewGenerator returns a generator over events with a random nonce.
func NewGenerator(events []Event) (*Generator, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	return NewGeneratorWithNonce(events, binary.LittleEndian.Uint64(b[:]))
}

// NewGeneratorWithNonce returns a generator over events with the given nonce: two
// generators with the same nonce render the same ids.
func NewGeneratorWithNonce(events []Event, nonce uint64) (*Generator, error) {
	if len(events) == 0 {
		return nil, fmt.Errorf("no events to generate")
	}
	g := &Generator{events: slices.Clone(events), nonce: nonce, now: time.Now}
	total := 0
	for _, e := range g.events {
		w := max(e.Weight, 1)
		total += w
		g.cum = append(g.cum, total)
	}
	return g, nil
}

// Events returns the generator's events.
func (g *Generator) Events() []Event { return slices.Clone(g.events) }

// Next renders the next message; r picks the event by weight (nil picks the first).
func (g *Generator) Next(r *mrand.Rand) Message {
	i := 0
	if r != nil && len(g.cum) > 1 {
		x := r.IntN(g.cum[len(g.cum)-1])
		i = sort.SearchInts(g.cum, x+1)
	}
	e := &g.events[i]
	ids := IDs{Nonce: g.nonce, Seq: g.seq.Add(1)}
	body := e.Template.AppendTo(make([]byte, 0, e.Template.SizeHint()), ids, g.now())
	return Message{Event: e, IDs: ids, Body: body}
}
