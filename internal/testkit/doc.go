// Package testkit holds the helpers the tests of this module share, so that
// each exists once: a recording upstream (the application behind the
// gateway), a test identity provider (OpenID discovery and a JWKS), a
// standalone nats-server, free loopback ports, polling, a hand-moved clock,
// and the guard that skips slow tests under -short. It is a normal package that only _test.go
// files import, as river's internal/riverinternaltest is.
//
// Everything listens on 127.0.0.1 on a port the kernel picks, and stops when
// the test ends (t.Cleanup), so tests can run beside each other and beside
// other checkouts.
//
// What each helper is for:
//
//   - [Upstream] (upstream.go) is a real HTTP application on loopback that
//     records every request it gets (arrival time, method, path, headers,
//     body, and the status it answered) and answers with a [Responder]
//     ([Status], [StatusBy] or any handler). It can go [Upstream.Down] and
//     come [Upstream.Up] again on the same port, as an application that
//     restarts. The delivery tests point a queue at it, the integration tests
//     point reverse_proxy and forward at it, the process tests use it as the
//     application behind real gateway processes.
//   - [IdP] (idp.go) is an OpenID provider on loopback: a discovery document
//     at /.well-known/openid-configuration and a JWKS at /jwks, whose keys a
//     test can replace (key rotation) or make fail, and which counts its
//     fetches. [JWK], [JWKS] and [SignJWT] build what it publishes and the
//     tokens a sender presents.
//   - [StartNATS] (nats.go) runs one nats-server with JetStream in the test
//     process, for the tests of the "store nats" mode.
//   - [FreePort] (port.go) is a loopback port that was free a moment ago, for
//     a process or server that must be told its port before it starts.
//   - [WaitFor] (wait.go) polls a condition until it holds or a deadline
//     passes.
//   - [Clock] (clock.go) is a clock the test moves by hand, for code that
//     takes a Now option (token lifetimes, JWKS refresh, dedup windows).
//   - [SkipShort] (short.go) is the one -short guard: a test that starts
//     Caddy, a process or a cluster, or waits out real time, calls it (the
//     harness entry points of each package call it for their tests).
//
// The package must not import Caddy: the tests of the Caddy-free packages
// (auth, payload, dedup, delivery, schemas) use it, and CI checks their test
// dependencies too.
package testkit
