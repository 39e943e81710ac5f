package vendors

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"sort"
	"sync/atomic"
	"time"
)

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
