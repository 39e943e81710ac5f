// Package schemas holds the JSON Schemas (draft 2020-12) of the inbound webhooks the
// gateway knows, one per vendor event family, and the preset table that maps a
// vendor (and family) to its schema, its default idempotency keys and its ack.
//
// The schemas are built from the vendor notes in VENDORS.md. They never reject
// unknown properties, and enums that vendors are known to extend stay open
// (examples or patterns, never enum). Compile turns an embedded schema name, or
// the path of a user's schema file, into a compiled schema; embedded schemas are
// compiled once per process and shared. Violations flattens a validation error
// into short, JSON-pointer-addressed messages fit for a problem+json response.
//
// The package does not import Caddy.
package schemas

import "embed"

// files holds the embedded schema documents, named <name>.json.
//
//go:embed *.json
var files embed.FS
