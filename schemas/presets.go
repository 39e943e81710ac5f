package schemas

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Ack is the response the gateway sends the vendor for an accepted (or
// duplicate) event: the vendor's own definition of success.
type Ack struct {
	// Status is the HTTP status code.
	Status int
	// ContentType is the Content-Type header of the ack.
	ContentType string
	// Body is the exact response body.
	Body string
}

// Preset is what `vendor <name> [<family>]` selects: the schema, the default
// idempotency keys, the dedup window, the event name and the ack. The README's
// vendor guide prints this table (TestREADMEPresetTable keeps the two equal),
// and docs/vendors.md gives the vendor facts behind each choice, with sources.
type Preset struct {
	// Vendor is the preset name: "unico_idcloud", "unico_magiclink", "incode",
	// "attestr" or "idwise".
	Vendor string
	// Family is the event family, "" for single-family vendors (and for the
	// combined Unico Magic Link preset, which picks the family by shape).
	Family string
	// Schema is the name of the embedded schema (see Names and Compile).
	Schema string
	// Requires says in a few words what the schema refuses to do without:
	// the envelope and the fields the keys and the event name are built from.
	Requires string
	// Keys are idempotency key templates, tried in order: the first one whose
	// placeholders are all present wins. A key names one delivery, never an
	// entity: it is the vendor's per-event id, or it includes the body hash.
	Keys []string
	// KeyReason is the one-line reason for Keys.
	KeyReason string
	// DedupWindow is how long a key is remembered: the vendor's documented
	// retry horizon with margin, and no more. Identical bytes inside it are a
	// retry; outside it they are a new event.
	DedupWindow time.Duration
	// WindowReason is the vendor's retry behaviour that DedupWindow covers.
	WindowReason string
	// Event is the value of the X-Webhook-Event header on the forwarded
	// request: a template such as "{webhook.json.event}" or a constant.
	Event string
	// Ack is the vendor's success response.
	Ack Ack
}

// jsonSuccess is the ack every preset sends: 200, application/json,
// {"success":true}. It satisfies Incode (200 with application/json, the legacy
// body), IDWise (exactly 200), Unico (any 2xx) and Attestr (200).
var jsonSuccess = Ack{Status: 200, ContentType: "application/json", Body: `{"success":true}`}

// Vendor preset names.
const (
	vendorUnicoIDCloud   = "unico_idcloud"
	vendorUnicoMagicLink = "unico_magiclink"
	vendorIncode         = "incode"
	vendorAttestr        = "attestr"
	vendorIDWise         = "idwise"
)

// Dedup windows, one per vendor retry policy (docs/vendors.md).
const (
	// unicoWindow: Unico's retry count and interval are set per webhook by
	// its onboarding team, so no horizon is known; a day covers any sane setting.
	unicoWindow = 24 * time.Hour
	// incodeWindow: 5 attempts, 30 s × 2.5 backoff, about 32 min in all.
	incodeWindow = time.Hour
	// attestrWindow: one attempt and no retries; only network-level repeats
	// (a proxy or client that resent the request) can be duplicates.
	attestrWindow = 10 * time.Minute
	// idwiseWindow: retries at 5, 10 and 15 min, then an e-mail.
	idwiseWindow = time.Hour
)

const (
	unicoWindowReason   = "Unico's retry count and interval are configured per webhook, so no horizon is known: 24 h covers any sane setting"
	incodeWindowReason  = "Incode retries 5 times with 30 s × 2.5 backoff, about 32 min in all: 1 h covers it with margin"
	attestrWindowReason = "Attestr makes one attempt and never retries: 10 min covers network-level repeats only"
	idwiseWindowReason  = "IDWise retries at 5, 10 and 15 min: 1 h covers it with margin"
	bodyHashReason      = "no per-event id is sent, so the body hash is in the key: distinct bodies never share a key"
)

// vendorSpec describes one vendor's presets.
type vendorSpec struct {
	// familyRequired is set when the vendor has no preset without a family.
	familyRequired bool
	// presets maps a family ("" for none) to its preset.
	presets map[string]Preset
}

// incodeSessionFamilies are the Incode session webhooks; they share one schema.
var incodeSessionFamilies = []string{
	"session_started", "session_progress", "session_failed",
	"session_succeeded", "session_pending_review", "identity_enrolled",
}

// presets is the preset table, keyed by vendor.
var presets = func() map[string]vendorSpec {
	unico := func(p Preset) Preset {
		p.DedupWindow, p.WindowReason = unicoWindow, unicoWindowReason
		return p
	}
	incode := func(p Preset) Preset {
		p.DedupWindow, p.WindowReason = incodeWindow, incodeWindowReason
		return p
	}
	mlStepKey := "unico:ml:step:{webhook.json.step}:{webhook.body_sha256}"
	t := map[string]vendorSpec{
		vendorUnicoIDCloud: {presets: map[string]Preset{
			"": unico(Preset{
				Schema:    "unico.idcloud.process",
				Requires:  "an object with processId and state",
				Keys:      []string{"unico:idcloud:{webhook.json.processId}:{webhook.json.state}:{webhook.body_sha256}"},
				KeyReason: "no per-event id; processId and state for readability, and the body hash, so FINISHED/ok and FINISHED/invalid_identity of one process are two events",
				Event:     "process",
			}),
		}},
		vendorUnicoMagicLink: {presets: map[string]Preset{
			"": unico(Preset{
				Schema:    "unico.magiclink.v2",
				Requires:  "by shape: a step event needs step; a re-capture needs ine_front, ine_back or document_type; a results event any non-empty object",
				Keys:      []string{mlStepKey, "unico:ml:{webhook.body_sha256}"},
				KeyReason: bodyHashReason,
				Event:     "magiclink",
			}),
			"step": unico(Preset{
				Schema:    "unico.magiclink.v2.step",
				Requires:  "an object with step",
				Keys:      []string{mlStepKey},
				KeyReason: bodyHashReason,
				Event:     "step",
			}),
			"document_recapture": unico(Preset{
				Schema:    "unico.magiclink.v2.document_recapture",
				Requires:  "an object with ine_front, ine_back or document_type",
				Keys:      []string{"unico:ml:document_recapture:{webhook.body_sha256}"},
				KeyReason: bodyHashReason,
				Event:     "document_recapture",
			}),
			"results": unico(Preset{
				Schema:    "unico.magiclink.v2.results",
				Requires:  "a non-empty object (no public sample names an identifying field)",
				Keys:      []string{"unico:ml:results:{webhook.body_sha256}"},
				KeyReason: bodyHashReason,
				Event:     "results",
			}),
		}},
		vendorIncode: {familyRequired: true, presets: map[string]Preset{
			"onboarding_status": incode(Preset{
				Schema:    "incode.onboarding_status",
				Requires:  "an object with interviewId and onboardingStatus",
				Keys:      []string{"incode:onboarding_status:{webhook.json.interviewId}:{webhook.json.onboardingStatus}:{webhook.body_sha256}"},
				KeyReason: "no per-event id, and a status can recur after a re-review: the body hash tells the notifications apart",
			}),
			"videoselfie": incode(Preset{
				Schema:    "incode.videoselfie",
				Requires:  "an object with interviewId",
				Keys:      []string{"incode:videoselfie:{webhook.json.interviewId}:{webhook.body_sha256}"},
				KeyReason: bodyHashReason,
			}),
			"watchlist": incode(Preset{
				Schema:    "incode.watchlist",
				Requires:  "an object with ref or search_id",
				Keys:      []string{"incode:watchlist:{webhook.body_sha256}"},
				KeyReason: "one search notifies many times with the same ids: only identical bytes are a retry",
			}),
			"face_authentication": incode(Preset{
				Schema:   "incode.face_authentication",
				Requires: "an object with transactionId, interviewId, customerId or overallStatus",
				Keys: []string{
					"incode:face_authentication:{webhook.json.transactionId}:{webhook.body_sha256}",
					"incode:face_authentication:{webhook.body_sha256}",
				},
				KeyReason: bodyHashReason,
			}),
		}},
		vendorAttestr: {presets: map[string]Preset{
			"": {
				Schema:   "attestr.event",
				Requires: "{event, payload} with payload an object; flowx.* and factx.query also need payload._id",
				Keys: []string{
					"attestr:{webhook.json.event}:{webhook.json.payload._id|payload.requestId}:{webhook.body_sha256}",
					"attestr:{webhook.json.event}:{webhook.body_sha256}",
				},
				KeyReason:    "payload._id names a handshake or profile, not a delivery (a profile gets many factx.query): the body hash tells them apart",
				DedupWindow:  attestrWindow,
				WindowReason: attestrWindowReason,
				Event:        "{webhook.json.event}",
			},
		}},
		vendorIDWise: {presets: map[string]Preset{
			"": {
				Schema:   "idwise.event",
				Requires: "{event, body} with body an object that has eventId, journeyId or spotCheckJourneyId",
				Keys: []string{
					"idwise:{webhook.json.body.eventId}",
					"idwise:{webhook.json.event}:{webhook.json.body.journeyId|body.spotCheckJourneyId}:{webhook.body_sha256}",
					"idwise:{webhook.json.event}:{webhook.body_sha256}",
				},
				KeyReason:    "body.eventId is IDWise's per-event id, the same on every retry; legacy bodies without it fall back to the body hash",
				DedupWindow:  idwiseWindow,
				WindowReason: idwiseWindowReason,
				Event:        "{webhook.json.event}",
			},
		}},
	}
	for _, f := range incodeSessionFamilies {
		t[vendorIncode].presets[f] = incode(Preset{
			Schema:   "incode.session",
			Requires: "an object with interviewId, externalId, externalCustomerId, clientId or flowId",
			Keys: []string{
				"incode:" + f + ":{webhook.json.interviewId}:{webhook.body_sha256}",
				"incode:" + f + ":{webhook.body_sha256}",
			},
			KeyReason: "one interview has many session notifications (other flow, other time): the body hash tells them apart",
		})
	}
	for v, spec := range t {
		for f, p := range spec.presets {
			p.Vendor, p.Family, p.Ack = v, f, jsonSuccess
			if p.Event == "" {
				p.Event = f // Incode: the body has no event field, the URL (family) is the event
			}
			spec.presets[f] = p
		}
	}
	return t
}()

// Vendors returns the vendor preset names, sorted.
func Vendors() []string {
	out := make([]string, 0, len(presets))
	for v := range presets {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// Families returns the event families of vendor, sorted; nil for a vendor with
// a single family or an unknown vendor. The unico_magiclink vendor also has a
// preset without a family, which picks the family by the payload's shape.
func Families(vendor string) []string {
	spec, ok := presets[vendor]
	if !ok {
		return nil
	}
	var out []string
	for f := range spec.presets {
		if f != "" {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

// Lookup returns the preset of vendor and family. Names are matched exactly
// (lower-case, as listed by Vendors and Families). Incode needs a family; a
// family given to a single-family vendor is an error; unico_magiclink takes an
// optional family. Errors are one line that names the bad value and lists the
// valid ones. The returned Preset is a copy: changing it does not change the table.
func Lookup(vendor, family string) (Preset, error) {
	spec, ok := presets[vendor]
	if !ok {
		return Preset{}, fmt.Errorf("unknown vendor preset %q (want one of: %s)", vendor, strings.Join(Vendors(), ", "))
	}
	families := Families(vendor)
	switch {
	case family == "" && spec.familyRequired:
		return Preset{}, fmt.Errorf("vendor preset %q needs an event family (want one of: %s)", vendor, strings.Join(families, ", "))
	case family != "" && len(families) == 0:
		return Preset{}, fmt.Errorf("vendor preset %q takes no event family, got %q", vendor, family)
	}
	p, ok := spec.presets[family]
	if !ok {
		orNone := ""
		if !spec.familyRequired {
			orNone = "; or none"
		}
		return Preset{}, fmt.Errorf("unknown %s event family %q (want one of: %s%s)", vendor, family, strings.Join(families, ", "), orNone)
	}
	p.Keys = slices.Clone(p.Keys)
	return p, nil
}
