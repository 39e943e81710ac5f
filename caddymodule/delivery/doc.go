// Package delivery is the durable forwarder of the webhook gateway: it stores accepted events
// in NATS JetStream, remembers idempotency keys for the dedup window, and delivers every stored
// event to the application with retries, backoff, a rate limit and a dead-letter stream.
//
// The package does not import Caddy. The Caddy adapter opens one [Store] per process (embedded
// nats-server or an external NATS cluster), asks it for one [Route] per configured route name,
// calls [Route.Accept] (forward mode) or [Route.Seen] and [Route.Record] (gate mode) on the
// request path, and [Route.Start] and [Route.Stop] around the route's lifetime.
//
// # Layout in JetStream
//
// Each route <r> owns two file-backed streams with Limits retention:
//
//   - WHGW-EV-<r>, subjects whgw.<r>.ev.<key-hash> and whgw.<r>.rp.<event-id>, MaxMsgsPerSubject 1,
//     per-message TTLs allowed, no MaxAge. An accepted event is the one message on the subject of its
//     idempotency key, so the event is its own dedup record: storing it and recording the key are
//     one publish, guarded by Nats-Expected-Last-Subject-Sequence. Once the event is delivered (or
//     dead-lettered), the worker replaces it with a small marker carrying a TTL of what remains of
//     the dedup window; the marker keeps the key remembered and expires on its own. Undelivered
//     events never expire. Replayed dead letters are queued on whgw.<r>.rp.<id>.
//   - WHGW-DL-<r>, subjects whgw.<r>.dl.<event-id>: the dead letters, kept until they are replayed or
//     deleted.
//
// A durable pull consumer named "deliver" on WHGW-EV-<r> feeds the workers. Several processes that
// share one NATS cluster share the consumer, and so the queue and the dedup window.
package delivery
