// Package vendors generates realistic inbound webhooks of the identity-verification
// vendors the gateway has presets for (Unico IDCloud, Unico Magic Link, Incode, Attestr
// and IDWise), shaped like the fixtures in schemas/testdata and the payloads described
// in docs/vendors.md.
//
// Every event is a pre-compiled template: literal JSON with a few slots for ids and
// times. Rendering one copies the literals and formats the slots from a sequence number
// and a per-generator nonce, so every rendered body carries ids (and therefore
// idempotency keys) that no other body of the run, or of another run, carries. Rendering
// costs a few hundred nanoseconds and one allocation, so the generator is never the
// bottleneck of a load test.
package vendors
