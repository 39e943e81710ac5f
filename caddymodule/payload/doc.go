// Package payload holds the pure-Go body handling of the webhook gateway:
// a single-pass, allocation-free JSON well-formedness and bounds check
// ([Check]), a decoder that builds the generic tree validated by the JSON
// Schema engine ([Decode]), value lookup by dotted path ([Lookup]) and the
// idempotency-key templates ([ParseTemplate], [ParseKeyTemplates]).
//
// The package does not import Caddy: Caddy placeholders reach it only through
// the callback passed to [Template.Render].
package payload
