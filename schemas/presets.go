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
// idempotency keys, the dedup window, the event name and the ack.
type Preset struct {
	// Vendor is the preset name: "unico_idcloud", "unico_magiclink", "incode",
	// "attestr" or "idwise".
	Vendor string
	// Family is the event family, "" for single-family vendors (and for the
	// combined Unico Magic Link preset, which picks the family by shape).
	Family string
	// Schema is the name of the embedded schema (see Names and Compile).
	Schema string
	// Keys are idempotency key templates, tried in order: the first one whose
	// {webhook.json.*} placeholders are all present wins. The last one always
	// resolves for a payload that passes Schema.
	Keys []string
	// DedupWindow overrides the gateway's default dedup window (24h) when
	// non-zero. Incode watchlist uses 10m: identical bodies recur legitimately.
	DedupWindow time.Duration
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
	mlStepKey := "unico:ml:step:{webhook.json.user_id}:{webhook.json.step}:{webhook.json.completed_on}"
	mlStepHashKey := "unico:ml:step:{webhook.json.step}:{webhook.body_sha256}"
	t := map[string]vendorSpec{
		vendorUnicoIDCloud: {presets: map[string]Preset{
			"": {
				Schema: "unico.idcloud.process",
				Keys: []string{
					"unico:idcloud:{webhook.json.processId}:{webhook.json.state}",
					"unico:idcloud:{webhook.body_sha256}",
				},
				Event: "process",
			},
		}},
		vendorUnicoMagicLink: {presets: map[string]Preset{
			"": {
				Schema: "unico.magiclink.v2",
				Keys:   []string{mlStepKey, mlStepHashKey, "unico:ml:{webhook.body_sha256}"},
				Event:  "magiclink",
			},
			"step": {
				Schema: "unico.magiclink.v2.step",
				Keys:   []string{mlStepKey, mlStepHashKey, "unico:ml:step:{webhook.body_sha256}"},
				Event:  "step",
			},
			"document_recapture": {
				Schema: "unico.magiclink.v2.document_recapture",
				Keys:   []string{"unico:ml:document_recapture:{webhook.body_sha256}"},
				Event:  "document_recapture",
			},
			"results": {
				Schema: "unico.magiclink.v2.results",
				Keys:   []string{"unico:ml:results:{webhook.body_sha256}"},
				Event:  "results",
			},
		}},
		vendorIncode: {familyRequired: true, presets: map[string]Preset{
			"onboarding_status": {
				Schema: "incode.onboarding_status",
				Keys: []string{
					"incode:onboarding_status:{webhook.json.interviewId}:{webhook.json.onboardingStatus}",
					"incode:onboarding_status:{webhook.body_sha256}",
				},
			},
			"videoselfie": {
				Schema: "incode.videoselfie",
				Keys: []string{
					"incode:videoselfie:{webhook.json.interviewId}",
					"incode:videoselfie:{webhook.body_sha256}",
				},
			},
			"watchlist": {
				Schema:      "incode.watchlist",
				Keys:        []string{"incode:watchlist:{webhook.body_sha256}"},
				DedupWindow: 10 * time.Minute,
			},
			"face_authentication": {
				Schema: "incode.face_authentication",
				Keys: []string{
					"incode:face_authentication:{webhook.json.transactionId}",
					"incode:face_authentication:{webhook.body_sha256}",
				},
			},
		}},
		vendorAttestr: {presets: map[string]Preset{
			"": {
				Schema: "attestr.event",
				Keys: []string{
					"attestr:{webhook.json.event}:{webhook.json.payload._id|payload.requestId}",
					"attestr:{webhook.json.event}:{webhook.body_sha256}",
				},
				Event: "{webhook.json.event}",
			},
		}},
		vendorIDWise: {presets: map[string]Preset{
			"": {
				Schema: "idwise.event",
				Keys: []string{
					"idwise:{webhook.json.body.eventId}",
					"idwise:{webhook.json.event}:{webhook.json.body.journeyId|body.spotCheckJourneyId}:{webhook.body_sha256}",
					"idwise:{webhook.json.event}:{webhook.body_sha256}",
				},
				Event: "{webhook.json.event}",
			},
		}},
	}
	for _, f := range incodeSessionFamilies {
		keys := []string{"incode:" + f + ":{webhook.json.interviewId}", "incode:" + f + ":{webhook.body_sha256}"}
		if f == "session_progress" {
			// Session Progress recurs for the same session (each resumed link).
			keys = []string{"incode:" + f + ":{webhook.json.interviewId}:{webhook.body_sha256}", "incode:" + f + ":{webhook.body_sha256}"}
		}
		t[vendorIncode].presets[f] = Preset{Schema: "incode.session", Keys: keys}
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
