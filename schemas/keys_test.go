package schemas_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/payload"
	"github.com/webhookgw/caddy-webhook-gateway/schemas"
)

// presetKey renders body's idempotency key the way the gateway does: the
// preset's templates through the payload package, after the schema passed.
func presetKey(t *testing.T, preset, body string) string {
	t.Helper()
	vendor, family, _ := strings.Cut(preset, "/")
	p, sch := compiledPreset(t, vendor, family)
	doc, err := payload.Decode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(doc); err != nil {
		t.Fatalf("%s rejects %s: %v", preset, body, schemas.Violations(err, 5))
	}
	kt, err := payload.ParseKeyTemplates(p.Keys)
	if err != nil {
		t.Fatal(err)
	}
	key, ok := kt.Render(doc, []byte(body), nil)
	if !ok {
		t.Fatalf("%s: no key resolves for %s", preset, body)
	}
	return key
}

// TestDistinctEventsGetDistinctKeys: pairs of different events that used to
// share a key, so the second was answered "duplicate" and never delivered.
func TestDistinctEventsGetDistinctKeys(t *testing.T) {
	tests := []struct {
		name, preset string
		a, b         string
	}{
		{"attestr: two factx.query on one profile query id", "attestr",
			`{"event":"factx.query","payload":{"_id":"AQ0jPe2Y","profile":"AX1y","queries":[{"_id":"q1","text":"Please share your PAN"}]}}`,
			`{"event":"factx.query","payload":{"_id":"AQ0jPe2Y","profile":"AX1y","queries":[{"_id":"q2","text":"Please share your address proof"}]}}`},
		{"incode: two session notifications of one interview", "incode/session_progress",
			`{"interviewId":"64f1c2a9","flowId":"flow-a","timestamp":1740934939000}`,
			`{"interviewId":"64f1c2a9","flowId":"flow-b","timestamp":1740935939000}`},
		{"incode: session started twice for one interview", "incode/session_started",
			`{"interviewId":"64f1c2a9","flowId":"flow-a"}`,
			`{"interviewId":"64f1c2a9","flowId":"flow-b"}`},
		{"incode: a status that recurs after a re-review, with new detail", "incode/onboarding_status",
			`{"interviewId":"64f1c2a9","onboardingStatus":"MANUAL_REVIEW_APPROVED"}`,
			`{"interviewId":"64f1c2a9","onboardingStatus":"MANUAL_REVIEW_APPROVED","flowId":"flow-b"}`},
		{"unico: FINISHED/ok and FINISHED/invalid_identity of one process", "unico_idcloud",
			`{"processId":"8263a268","state":"PROCESS_STATE_FINISHED","flow":"id","result":"ok"}`,
			`{"processId":"8263a268","state":"PROCESS_STATE_FINISHED","flow":"id","result":"invalid_identity"}`},
		{"idwise: two events of one journey", "idwise",
			`{"event":"Finished User Steps","body":{"eventId":"e-1","journeyId":"j-1","systemDecision":"Incomplete"}}`,
			`{"event":"Finished Journey","body":{"eventId":"e-2","journeyId":"j-1","systemDecision":"Complete"}}`},
		{"idwise: two legacy events of one journey", "idwise",
			`{"event":"AML Monitor Update","body":{"journeyId":"j-1","systemDecision":"Refer"}}`,
			`{"event":"AML Monitor Update","body":{"journeyId":"j-1","systemDecision":"Complete"}}`},
		{"magic link: one step completed twice", "unico_magiclink/step",
			`{"step":"form_selfie","user_id":"u-1","completed_on":"2025-03-02T17:01:09Z"}`,
			`{"step":"form_selfie","user_id":"u-1","completed_on":"2025-03-02T18:11:42Z"}`},
		{"incode watchlist: two updates of one search", "incode/watchlist",
			`{"ref":"r-1","search_id":"s-1","interviewId":""}`,
			`{"ref":"r-1","search_id":"s-1","interviewId":"64f1c2a9"}`},
		{"separator moved between event and id", "attestr",
			`{"event":"async.completed:x","payload":{"_id":"y"}}`,
			`{"event":"async.completed","payload":{"_id":"x:y"}}`},
		{"separator moved between event and journey", "idwise",
			`{"event":"Step Submitted:j","body":{"journeyId":"1"}}`,
			`{"event":"Step Submitted","body":{"journeyId":"j:1"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ka, kb := presetKey(t, tc.preset, tc.a), presetKey(t, tc.preset, tc.b)
			if ka == kb {
				t.Fatalf("both get the key %q", ka)
			}
		})
	}
}

// TestRetriesShareAKey: the same bytes again (a vendor retry) get the same
// key, for every valid fixture of every preset.
func TestRetriesShareAKey(t *testing.T) {
	for _, dir := range fixtureDirs(t) {
		preset := dir.vendor
		if dir.family != "" {
			preset += "/" + dir.family
		}
		for _, f := range fixtureFiles(t, dir, "valid") {
			t.Run(dir.rel+"/"+filepath.Base(f), func(t *testing.T) {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if k1, k2 := presetKey(t, preset, string(b)), presetKey(t, preset, string(b)); k1 != k2 {
					t.Fatalf("a retry got %q, the original %q", k2, k1)
				}
			})
		}
	}
}

// TestIDWiseRetryWithEventID: IDWise's eventId is stable across retries, and
// the key is that id alone, so a retry is a duplicate even if IDWise
// re-serialised the body.
func TestIDWiseRetryWithEventID(t *testing.T) {
	a := presetKey(t, "idwise", `{"event":"Finished Journey","body":{"eventId":"e-1","journeyId":"j-1"}}`)
	b := presetKey(t, "idwise", `{"event": "Finished Journey", "body": {"journeyId": "j-1", "eventId": "e-1"}}`)
	if a != b {
		t.Fatalf("keys %q and %q, want one", a, b)
	}
}
