package vendors

import (
	"encoding/json"
	mrand "math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/payload"
	"github.com/webhookgw/caddy-webhook-gateway/schemas"
)

// TestCatalogValidatesAgainstPresets renders every event twice and checks that each body
// is valid JSON, passes its preset's schema, and yields an idempotency key (by the
// gateway's own key templates) that differs between the two renders: the simulator never
// sends an accidental duplicate.
func TestCatalogValidatesAgainstPresets(t *testing.T) {
	for _, e := range Catalog() {
		t.Run(e.Vendor+"/"+e.Family+"/"+e.Name, func(t *testing.T) {
			preset, err := schemas.Lookup(e.Vendor, e.Family)
			if err != nil {
				t.Fatal(err)
			}
			sch, err := schemas.Compile(preset.Schema)
			if err != nil {
				t.Fatal(err)
			}
			keys, err := payload.ParseKeyTemplates(preset.Keys)
			if err != nil {
				t.Fatal(err)
			}
			g, err := NewGeneratorWithNonce([]Event{e}, 0x0123456789abcdef)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for range 2 {
				m := g.Next(nil)
				if !json.Valid(m.Body) {
					t.Fatalf("invalid JSON: %s", m.Body)
				}
				doc, err := payload.Decode(m.Body)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if err := sch.Validate(doc); err != nil {
					t.Fatalf("schema %s rejects %s: %v", preset.Schema, m.Body, err)
				}
				key, ok := keys.Render(doc, m.Body, nil)
				if !ok {
					t.Fatalf("no idempotency key for %s", m.Body)
				}
				if seen[key] {
					t.Fatalf("key %q repeats across renders", key)
				}
				seen[key] = true
			}
		})
	}
}

// TestEveryPresetHasEvents checks that each gateway preset (vendor and family) has at
// least one event in the catalog, so `send` works for every preset.
func TestEveryPresetHasEvents(t *testing.T) {
	for _, v := range schemas.Vendors() {
		fams := schemas.Families(v)
		if len(fams) == 0 || v == "unico_magiclink" {
			fams = append(fams, "")
		}
		for _, f := range fams {
			if _, err := Select(v, f, ""); err != nil {
				t.Errorf("%s/%s: %v", v, f, err)
			}
		}
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestIDFormats(t *testing.T) {
	tm := MustCompileTemplate(`{{uuid}} {{uuid}} {{oid}} {{aid}} {{num}} {{ms}} {{now}}`)
	now := time.Date(2025, 3, 2, 17, 1, 2, 123e6, time.UTC)
	seen := map[string]bool{}
	for _, ids := range []IDs{{0, 1}, {0, 2}, {^uint64(0), 1<<40 + 7}, {0xfeedface, 3}} {
		f := strings.Fields(string(tm.AppendTo(nil, ids, now)))
		if len(f) != 7 {
			t.Fatalf("fields: %q", f)
		}
		for _, u := range f[:2] {
			if !uuidRE.MatchString(u) {
				t.Errorf("not a v4 UUID: %q", u)
			}
		}
		if len(f[2]) != 24 || len(f[3]) != 18 {
			t.Errorf("oid %q / aid %q: wrong length", f[2], f[3])
		}
		if f[5] != "1740934862123" || f[6] != "2025-03-02T17:01:02.123Z" {
			t.Errorf("times: %q %q", f[5], f[6])
		}
		for _, id := range f[:5] {
			if seen[id] {
				t.Errorf("id %q repeats", id)
			}
			seen[id] = true
		}
	}
	if len(tm.AppendTo(nil, IDs{1, 1}, now)) > tm.SizeHint() {
		t.Error("SizeHint is not an upper bound")
	}
}

func TestCompileTemplateErrors(t *testing.T) {
	for _, src := range []string{`{"a":"{{nope}}"}`, `{"a":"{{uuid"}`, strings.Repeat("{{oid}}", maxIDSlots+1)} {
		if _, err := CompileTemplate(src); err == nil {
			t.Errorf("CompileTemplate(%.30q): no error", src)
		}
	}
	tm := MustCompileTemplate(`{"a":{"b":1}}`)
	if got := string(tm.AppendTo(nil, IDs{}, time.Time{})); got != `{"a":{"b":1}}` {
		t.Errorf("literal template renders %q", got)
	}
}

func TestSelect(t *testing.T) {
	ev, err := Select("idwise", "", "Finished Journey")
	if err != nil || len(ev) != 1 || ev[0].Name != "finished_journey" {
		t.Fatalf("Select by human name: %v %v", ev, err)
	}
	ev, err = Select("incode", "", "")
	if err != nil || ev[0].Family != "onboarding_status" {
		t.Fatalf("incode default family: %v %v", ev, err)
	}
	for _, bad := range [][3]string{{"acme", "", ""}, {"incode", "nope", ""}, {"idwise", "", "nope"}} {
		if _, err := Select(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("Select%q: no error", bad)
		}
	}
}

func TestWeightedPick(t *testing.T) {
	evs, err := Select("idwise", "", "")
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGenerator(evs)
	if err != nil {
		t.Fatal(err)
	}
	r := mrand.New(mrand.NewPCG(1, 2))
	counts := map[string]int{}
	const n = 20000
	for range n {
		counts[g.Next(r).Event.Name]++
	}
	total := 0
	for _, e := range evs {
		total += e.Weight
	}
	for _, e := range evs {
		want := float64(n) * float64(e.Weight) / float64(total)
		if got := float64(counts[e.Name]); got < want*0.85 || got > want*1.15 {
			t.Errorf("%s: %v picks, want about %v", e.Name, got, want)
		}
	}
}

func BenchmarkNext(b *testing.B) {
	evs, _ := Select("attestr", "", "")
	g, _ := NewGenerator(evs)
	r := mrand.New(mrand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		_ = g.Next(r)
	}
}

// TestIDsUnique checks that scrambling keeps ids unique across bodies and slots.
func TestIDsUnique(t *testing.T) {
	seen := make(map[string]bool, 3*3*20000)
	var b []byte
	for seq := uint64(1); seq <= 20000; seq++ {
		ids := IDs{Nonce: 42, Seq: seq}
		for slot := range uint64(3) {
			for _, f := range []func([]byte, uint64) []byte{ids.appendUUID, ids.appendOID, ids.appendAID} {
				b = f(b[:0], slot)
				if seen[string(b)] {
					t.Fatalf("id %s repeats (seq %d, slot %d)", b, seq, slot)
				}
				seen[string(b)] = true
			}
		}
	}
}
