// Package schemas holds the JSON Schemas (draft 2020-12) of the inbound webhooks the
// gateway knows, one per vendor event family, and the preset table that maps a
// vendor (and family) to its schema, its default idempotency keys and its ack.
//
// The schemas guard without guessing (schemas/README.md states the rule): they
// require only the envelope and the fields the preset's key and event name are
// built from; every other documented field accepts null and any scalar, enums
// stay open, and unknown properties are accepted. The vendor facts behind them,
// with sources, are in docs/vendors.md. Compile turns an embedded schema name, or
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
