// Package proc holds the tests that run the real gateway binary as child
// processes: they SIGKILL it mid-work, restart it on the same store, run two
// replicas on one external NATS server, reload it under load, and check that
// every acknowledged webhook reaches the application exactly once.
//
// TestMain builds cmd/caddy once; every test picks its own loopback ports.
// The tests are skipped with -short: the harness entry points (newGateway,
// newApp, startCluster, startNATS) skip, so no test repeats the guard.
//
// The harness, one file a role:
//   - gateway_test.go starts, stops and kills a gateway process on its own
//     Caddyfile, directory and ports;
//   - gatewayadmin_test.go reads a gateway's admin API (queue figures,
//     reload) and its log;
//   - app_test.go is the application behind the gateways (testkit's
//     recording upstream) and the exactly-once checks on what it got;
//   - sender_test.go posts IDWise events as IDWise does;
//   - ledger_test.go records what the senders sent and which answers were
//     2xx, new or duplicate;
//   - natscluster_test.go runs nats-server nodes in the test process (a
//     cluster whose nodes can crash and come back, or one server);
//   - harness_test.go holds what they share: the route every test
//     configures, the wait bounds, event ids, and a worker pool.
//
// The tests, by what they prove:
//   - TestCrashSafety, TestGracefulRestart (crash_test.go): SIGKILL and
//     SIGTERM mid-work on the embedded store;
//   - TestScaleOut, TestScaleOutKill (scaleout_test.go): two replicas on one
//     nats-server, one of them killed under load;
//   - TestFlakyCluster (flaky_test.go): a 3-node cluster whose nodes fail;
//   - TestReloadUnderLoad (reload_test.go), TestLoad64Senders (load_test.go);
//   - TestNoUnavailableAtStartup (startup_test.go), TestCLI (cli_test.go).
package proc
