// Package delivery is the durable forwarder of the webhook gateway: it stores accepted events
// in NATS JetStream, remembers idempotency keys for the dedup window, and delivers every stored
// event to the application with retries, backoff, a rate limit and a dead-letter stream.
//
// The package does not import Caddy. The Caddy adapter opens one [Store] per process (embedded
// nats-server or an external NATS cluster), asks it for one [Queue] per configured route name,
// calls [Queue.Accept] (forward mode) or [Queue.Seen] and [Queue.Record] (gate mode) on the
// request path, and [Queue.Start] and [Queue.Stop] around the route's lifetime.
//
// # Layout in JetStream
//
// Each route <r> owns three file-backed streams with Limits retention:
//
//   - WHGW-EV-<r>, subjects whgw.<r>.ev.<bucket> (4096 buckets, the top 12 bits of the key hash
//     as three hex digits) and whgw.<r>.rp.<event-id>, no TTLs, no per-subject limit. Every event
//     carries its key hash in the Whgw-Key-Hash header, so the event is its own dedup record:
//     storing it and recording the key are one publish on the key's bucket, guarded by
//     Nats-Expected-Last-Subject-Sequence = the bucket's last sequence in this process's key index
//     (keyfeed.go, accept.go). Gate mode records a key with a key-only message (Whgw-Mark). A
//     delivered event is only acked and stays as history; the janitor purges the stream's front
//     past max(window, retain), never past the delivery consumer's ack floor (janitor.go).
//     Replays (of dead letters, and of events of the history: history.go) are copies queued on
//     whgw.<r>.rp.<id>, without a key hash, and delivered with X-Webhook-Replay: true. A stream of the previous layout (a
//     subject per key) is detected at start (layout.go).
//   - WHGW-DL-<r>, subjects whgw.<r>.dl.<event-id>: the dead letters, kept until they are replayed or
//     deleted.
//   - WHGW-OC-<r>, subjects whgw.<r>.oc.<block> (an event's stream sequence >> 10, in hex): the
//     outcome record of every delivery attempt, written asynchronously by the workers and purged
//     with the events they describe (outcomes.go). When a quota is reached, the delivered history
//     at the stream's front and its records are given up before an event is refused (giveup.go).
//
// A durable pull consumer named "deliver" on WHGW-EV-<r> feeds the workers. Several processes that
// share one NATS cluster share the consumer and the stream, and so the queue and the dedup window;
// each keeps its own key index of the window, and saves it to a local snapshot file that the next
// start resumes from (snapshot.go).
package delivery
