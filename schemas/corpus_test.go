package schemas_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/webhookgw/caddy-webhook-gateway/schemas"
)

// The variant corpus: for every documented field of every vendor event (the
// field lists of docs/vendors.md), bodies derived from a valid fixture by one
// change each. It proves the rule of schemas/README.md:
//   - a field no key or event name is built from accepts null and the other
//     scalar type (string ⇄ number), and objects and arrays accept null;
//   - a field a key or the event name needs is refused when missing, null,
//     empty or an object, at its own path, and accepted as a number (ids);
//   - new enum values and casings are accepted.

// fieldKind is the documented shape of a field no key or event name needs.
type fieldKind int

const (
	scalar fieldKind = iota
	object
	array
)

type corpusEntry struct {
	preset string // vendor[/family]
	base   string // a valid fixture below testdata
	// keyFields are required: the key or the event name is built from them.
	keyFields []string
	// stringKeyFields are required non-empty strings (event names).
	stringKeyFields []string
	// free are the documented fields no key or event name needs.
	free map[string]fieldKind
	// accept are whole-value changes that must pass: new enum values,
	// casings, legacy values.
	accept map[string][]any
}

func scalars(names ...string) map[string]fieldKind {
	m := make(map[string]fieldKind, len(names))
	for _, n := range names {
		m[n] = scalar
	}
	return m
}

func with(m map[string]fieldKind, kind fieldKind, names ...string) map[string]fieldKind {
	for _, n := range names {
		m[n] = kind
	}
	return m
}

var incodeSessionFields = scalars("interviewId", "externalId", "externalCustomerId", "clientId", "flowId",
	"configurationId", "eventType", "timestamp", "status", "reason")

var corpus = []corpusEntry{
	{
		preset: "unico_idcloud", base: "unico_idcloud/default/valid/finished_ok.json",
		keyFields: []string{"processId", "state"},
		free:      scalars("result", "flow", "lastEvent", "lastEventDescription"),
		accept: map[string][]any{
			"state":     {"finished", "PROCESS_STATE_PAUSED", "process_state_finished"},
			"result":    {"invalid_identity", "expired", "OK", "fraud_suspected"},
			"lastEvent": {"event_type_session_ended", "EVENT_TYPE_NEW_THING", "SESSION_ENDED"},
			"flow":      {"idlive", "idcheck", "new-flow"},
		},
	},
	{
		// The combined preset picks the family by shape: without step the body is
		// a results event, so step is not a key field here (the step preset has it).
		preset: "unico_magiclink", base: "unico_magiclink/default/valid/step_with_space.json",
		free:   scalars("user_id", "started_on", "completed_on"),
		accept: map[string][]any{"step": {"form_document_front", "form document_back", "form_liveness_v2"}},
	},
	{
		preset: "unico_magiclink/step", base: "unico_magiclink/step/valid/form_start.json",
		keyFields: []string{"step"},
		free:      scalars("user_id", "started_on", "completed_on"),
		accept:    map[string][]any{"started_on": {1740934939, 1740934939.877}, "completed_on": {1740934939000}},
	},
	{
		preset: "unico_magiclink/document_recapture", base: "unico_magiclink/document_recapture/valid/both_sides_extra_fields.json",
		free: with(scalars("user_id", "document_type"), object, "ine_front", "ine_back"),
	},
	{
		preset: "unico_magiclink/results", base: "unico_magiclink/results/valid/decision.json",
		free: with(scalars("version", "status", "status_code", "request_date"), object, "data"),
	},
	{
		preset: "incode/onboarding_status", base: "incode/onboarding_status/valid/onboarding_finished.json",
		keyFields: []string{"interviewId", "onboardingStatus"},
		free:      scalars("externalId", "clientId", "flowId"),
		accept: map[string][]any{"onboardingStatus": {
			"ID_VALIDATION_FINISHED_SECOND_ID", "MANUAL_REVIEW_APPROVED", "onboarding_finished", "BRAND_NEW_STATUS",
		}},
	},
	{
		preset: "incode/videoselfie", base: "incode/videoselfie/valid/documented_example.json",
		keyFields: []string{"interviewId"},
		free:      scalars("clientId", "flowId"),
	},
	{
		preset: "incode/watchlist", base: "incode/watchlist/valid/ref_and_search_id.json",
		// Either of ref and search_id names the search; with both present,
		// each alone may be null or a number.
		free: scalars("interviewId", "ref", "search_id"),
	},
	{
		preset: "incode/face_authentication", base: "incode/face_authentication/valid/legacy_success.json",
		free: with(with(scalars("customerId", "token", "interviewId", "interviewToken", "transactionId", "faceMatch",
			"spoofAttempt", "secondFactor", "hasFaceMask", "hasLenses", "spoofConfidence", "overallScore",
			"overallStatus", "errorCode", "errorMessage", "error"),
			array, "children"), object, "recognitionConfidence"),
		accept: map[string][]any{"errorCode": {"4005", 4015}, "overallStatus": {"pass", "REVIEW"}},
	},
	{
		preset: "attestr", base: "attestr/default/valid/flowx_completed.json",
		keyFields:       []string{"payload._id"},
		stringKeyFields: []string{"event"},
		free: with(scalars("payload.tag", "payload.number", "payload.requestId", "payload.flowId", "payload.snapshot",
			"payload.updated", "payload.resultSignature"), object, "payload.result"),
		accept: map[string][]any{"payload.updated": {"1740934939123", "2025-03-02T17:02:19Z"}},
	},
	{
		preset: "attestr", base: "attestr/default/valid/factx_query.json",
		keyFields:       []string{"payload._id"},
		stringKeyFields: []string{"event"},
		free:            with(scalars("payload.profile"), array, "payload.queries"),
		accept: map[string][]any{"payload.queries": {
			[]any{map[string]any{"text": "no id"}}, []any{map[string]any{"_id": 17, "created": "1661024715867"}},
		}},
	},
	{
		preset: "attestr", base: "attestr/default/valid/async_completed.json",
		stringKeyFields: []string{"event"},
		free:            scalars("payload._id", "payload.requestId"),
		accept:          map[string][]any{"event": {"async.paused", "flowx.resumed", "FLOWX.COMPLETED"}},
	},
	{
		preset: "idwise", base: "idwise/default/valid/finished_journey.json",
		stringKeyFields: []string{"event"},
		// eventId and journeyId both name the event here: each alone may go.
		free: with(scalars("body.eventId", "body.journeyId", "body.referenceNo", "body.systemDecision",
			"body.manualDecision", "body.finalDecision", "body.previousSystemDecision", "body.updatedAMLVersionNumber",
			"body.ongoingCheckId", "body.action", "body.trigger", "body.stepId", "body.stepType"),
			array, "body.requiredSteps"),
		accept: map[string][]any{
			"event":                        {"finished journey", "AML Monior Update", "Finished Ongoing Check", "Brand New Event"},
			"body.systemDecision":          {"Resubmission Requested", "refer"},
			"body.updatedAMLVersionNumber": {"3", 3.0},
			"body.requiredSteps":           {[]any{map[string]any{"stepId": 7, "reasonCode": 12}}, []any{"Selfie"}},
		},
	},
}

func init() {
	for _, f := range []string{"session_started", "session_progress", "session_failed", "session_succeeded",
		"session_pending_review", "identity_enrolled"} {
		corpus = append(corpus, corpusEntry{
			preset: "incode/" + f, base: "incode/" + f + "/valid/with_ids.json",
			free: incodeSessionFields,
		})
	}
}

// setPath returns a deep copy of doc with the dotted path set to v, or
// removed when remove is set.
func setPath(t *testing.T, doc any, path string, v any, remove bool) any {
	t.Helper()
	b, _ := json.Marshal(doc)
	var cp any
	if err := json.Unmarshal(b, &cp); err != nil {
		t.Fatal(err)
	}
	segs := strings.Split(path, ".")
	node, ok := cp.(map[string]any)
	for _, s := range segs[:len(segs)-1] {
		if !ok {
			t.Fatalf("%s: no object at %q", path, s)
		}
		node, ok = node[s].(map[string]any)
	}
	if !ok {
		t.Fatalf("%s: parent is not an object", path)
	}
	if remove {
		delete(node, segs[len(segs)-1])
	} else {
		node[segs[len(segs)-1]] = v
	}
	return cp
}

func pointer(path string) string { return "/" + strings.ReplaceAll(path, ".", "/") }

// otherScalar returns a value of the other scalar type than v.
func otherScalar(v any) any {
	switch v.(type) {
	case string:
		return 42
	case nil:
		return "x"
	}
	return "42" // numbers and booleans become strings
}

func TestCorpus(t *testing.T) {
	cases := 0
	for _, e := range corpus {
		t.Run(e.preset+"/"+filepath.Base(e.base), func(t *testing.T) {
			vendor, family, _ := strings.Cut(e.preset, "/")
			p, sch := compiledPreset(t, vendor, family)
			raw, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(e.base)))
			if err != nil {
				t.Fatal(err)
			}
			base := decodeStd(t, raw)
			check := func(name string, doc any, wantPath string) {
				t.Helper()
				cases++
				b, _ := json.Marshal(doc)
				err := sch.Validate(decode(t, b))
				if wantPath == "" {
					if err != nil {
						t.Errorf("%s: rejected %s: %v", name, b, schemas.Violations(err, 5))
					} else if _, ok := resolveKey(t, p.Keys, decodeStd(t, b)); !ok {
						t.Errorf("%s: accepted, but no key of %q resolves", name, p.Keys)
					}
					return
				}
				if err == nil {
					t.Errorf("%s: accepted %s, want a violation at %s", name, b, wantPath)
					return
				}
				if got := paths(schemas.Violations(err, 0)); !slices.Contains(got, wantPath) {
					t.Errorf("%s: violations at %q, want one at %s", name, got, wantPath)
				}
			}
			check("base", base, "")
			lookup := func(path string) any {
				v := base
				for _, s := range strings.Split(path, ".") {
					m, _ := v.(map[string]any)
					v = m[s]
				}
				return v
			}
			for path, kind := range e.free {
				check(path+"=null", setPath(t, base, path, nil, false), "")
				check(path+" absent", setPath(t, base, path, nil, true), "")
				if kind == scalar {
					check(path+"=other type", setPath(t, base, path, otherScalar(lookup(path)), false), "")
					check(path+"=string", setPath(t, base, path, "some value", false), "")
					check(path+"=number", setPath(t, base, path, 1740934939123, false), "")
				}
			}
			for _, path := range append(slices.Clone(e.keyFields), e.stringKeyFields...) {
				ptr := pointer(path)
				check(path+" missing", setPath(t, base, path, nil, true), ptr)
				check(path+"=null", setPath(t, base, path, nil, false), ptr)
				check(path+"=\"\"", setPath(t, base, path, "", false), ptr)
				check(path+"=object", setPath(t, base, path, map[string]any{"id": "x"}, false), ptr)
			}
			for _, path := range e.keyFields {
				check(path+"=number", setPath(t, base, path, 8263, false), "")
			}
			for _, path := range e.stringKeyFields {
				check(path+"=number", setPath(t, base, path, 8263, false), pointer(path))
			}
			for path, values := range e.accept {
				for _, v := range values {
					check(path+"="+string(must(json.Marshal(v))), setPath(t, base, path, v, false), "")
				}
			}
		})
	}
	if cases < 300 {
		t.Errorf("the corpus has %d cases, want at least 300", cases)
	}
	t.Logf("%d corpus cases", cases)
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
