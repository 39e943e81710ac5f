package payload

import (
	"bytes"
	"encoding/json"
	"testing"
)

// webhookBody is a realistic ~1 KB identity-verification webhook.
var webhookBody = []byte(`{
  "event": "verification.completed",
  "eventId": "evt_01J9Z7Q4M3W8B6K2T5R1N0XH4C",
  "createdAt": "2025-03-14T09:26:53.589Z",
  "payload": {
    "_id": "66f2a1c9e4b0d7a3f1c2b8e5",
    "requestId": "req-7c1e9a52-3b4d-4f6e-8a90-1b2c3d4e5f60",
    "status": "APPROVED",
    "score": 0.9873,
    "attempts": 2,
    "livenessPassed": true,
    "manualReview": false,
    "reason": null,
    "applicant": {
      "firstName": "Maria",
      "lastName": "Conceição",
      "dateOfBirth": "1990-07-21",
      "nationality": "BR",
      "email": "maria.conceicao@example.com",
      "phone": "+55 11 98765-4321"
    },
    "documents": [
      {"type": "ID_CARD", "country": "BRA", "number": "12.345.678-9", "expiresAt": "2031-01-01", "checks": {"mrz": "PASS", "hologram": "PASS", "tamper": "PASS"}},
      {"type": "SELFIE", "country": "BRA", "similarity": 96.4, "checks": {"liveness": "PASS", "faceMatch": "PASS"}}
    ],
    "device": {"ip": "203.0.113.42", "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15", "geo": {"lat": -23.5505, "lon": -46.6333}},
    "tags": ["onboarding", "tier-2", "pix"],
    "notes": "Customer said: \"approved quickly\" \u2014 no issues.\nSecond line."
  }
}`)

func BenchmarkCheck(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(webhookBody)))
	for b.Loop() {
		if err := Check(webhookBody, Limits{MaxStringBytes: 4096, MaxMembers: 1000, MaxNumberBytes: 400}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckStdlib is the baseline: encoding/json.Valid plus utf8.Valid.
func BenchmarkCheckStdlib(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(webhookBody)))
	for b.Loop() {
		if !json.Valid(webhookBody) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(webhookBody)))
	for b.Loop() {
		if _, err := Decode(webhookBody); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeStdlib is the baseline Decode replaces: what
// jsonschema.UnmarshalJSON does (encoding/json with UseNumber).
func BenchmarkDecodeStdlib(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(webhookBody)))
	for b.Loop() {
		dec := json.NewDecoder(bytes.NewReader(webhookBody))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderKey(b *testing.B) {
	kt, err := ParseKeyTemplates([]string{
		"idwise:{webhook.json.body.eventId}",
		"attestr:{webhook.json.event}:{webhook.json.payload._id|payload.requestId}:{http.request.header.X-Vendor}",
	})
	if err != nil {
		b.Fatal(err)
	}
	doc, err := Decode(webhookBody)
	if err != nil {
		b.Fatal(err)
	}
	ph := func(string) (string, bool) { return "acme", true }
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := kt.Render(doc, webhookBody, ph); !ok {
			b.Fatal("not resolved")
		}
	}
}

func BenchmarkRenderBodySHA256(b *testing.B) {
	t, err := ParseTemplate("idwise:{webhook.json.event}:{webhook.body_sha256}")
	if err != nil {
		b.Fatal(err)
	}
	doc, err := Decode(webhookBody)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := t.Render(doc, webhookBody, nil); !ok {
			b.Fatal("not resolved")
		}
	}
}
