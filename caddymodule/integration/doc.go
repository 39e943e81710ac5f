// Package integration holds the tests that run a real Caddy, in process, with
// the module, against real upstreams and the real embedded store (or a real
// nats-server). It is the only package that uses caddytest, because the
// in-process Caddy owns the admin port; WHGW_TEST_PORT_BASE moves its ports
// (harness_test.go). Every test that starts Caddy gets it from the harness
// (newTester, startCaddy, startGateRoute, natsStore), which skips it under
// -short; the recording upstream and the test IdP come from internal/testkit.
//
// The tests, by file:
//   - adapt_test.go: TestCaddyfileAdapt (the adapt golden files).
//   - auth_test.go: TestAuthEndToEnd (every auth method in gate and forward
//     mode, the token endpoint, the external IdP and its key rotation).
//   - console_test.go: TestConsole (the operator console in headless Chromium:
//     the scenario over routes whose application fails, then recovers; the
//     basic_auth composition; the CSRF and same-origin refusals; the prefix mount).
//   - firstrun_test.go: TestGateModeNoNextHandler, TestQueueStatsMoveDuringDrain,
//     TestHealthAndDeliveryLog, TestStartupErrorNamesVariable.
//   - forward_test.go: TestForwardAckIndependentOfApp, TestForwardedRequest,
//     TestDeadLetterAndReplay, TestQuarantine, TestReloadKeepsQueueAndDedup,
//     TestStoreUnavailable, TestMetrics, TestBodyOverStoreLimit.
//   - gate_test.go: TestGateModeVendorPresets, TestGateModeChecks,
//     TestGateModeDedup, TestKeyTemplateFallback,
//     TestGateModeKeyWithControlCharacters, TestSchemaDetailsOnlyAfterAuth.
//   - giveup_test.go: TestHistoryGivenUpUnderQuota (history is given up before
//     queue_full; undelivered events never are).
//   - hardening_test.go: TestTokenEndpointHardening, TestCompressedBodyRefused,
//     TestGatewayHeadersStripped, TestSlowBodies, TestAllowIPsBehindAppendingProxy.
//   - history_test.go: TestEventHistoryAndReplay, TestRetainNoneKeepsNoHistory.
//   - quota_test.go: TestRouteQuota.
//   - rename_test.go: TestForwardURLChangeKeepsQueue, TestDrainOrphan.
//   - secrets_test.go: TestNoSecretInLogs.
//   - shipped_test.go: TestShippedCaddyfilesRefuseUnknownPaths,
//     TestDefaultCaddyfileStandInLogsBodies, TestContainerFiles (the shipped
//     Caddyfiles and container files).
//   - vendortruth_test.go: TestAttestrSchemaFailureIsKept,
//     TestOversizedKeyAndHeaders, TestWindowFollowsRetryHorizon.
//
// Elsewhere: the tests that kill and restart a real gateway process are in
// the proc sub-package; the fast table of the pipeline, without Caddy, is
// caddymodule/serve_test.go; the CLI against an in-process Caddy is in
// caddymodule/cli_*_test.go.
package integration
