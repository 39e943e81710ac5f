package main

import (
	"fmt"
	"strings"
)

// Credentials of the benchmark route: the load sends them to every configuration, so
// all of them get the same requests.
const (
	benchUser     = "bench"
	benchPassword = "bench-password-0123456789"
	benchVendor   = "idwise"
)

// site is what a configuration's Caddyfile is built from.
type site struct {
	adminPort int
	sitePort  int
	upstream  string // host:port of the fast application
	deadPort  int    // a loopback port nothing listens on
	storeDir  string // the embedded store of the gateway
}

// scenario is one configuration of the benchmark.
type scenario struct {
	// Name is the row's key in the JSON output.
	Name string
	// Title is the row's label in the table.
	Title string
	// caddyfile renders the configuration.
	caddyfile func(s site) string
}

// scenarios are the configurations, in the order they run.
var scenarios = []scenario{
	{"respond", "plain Caddy `respond 200`", func(s site) string {
		return globals(s, "") + siteBlock(s, "respond 200")
	}},
	{"reverse_proxy", "plain Caddy `reverse_proxy`", func(s site) string {
		return globals(s, "") + siteBlock(s, "reverse_proxy "+s.upstream)
	}},
	{"gate", "gateway, gate mode + `reverse_proxy`", func(s site) string {
		return globals(s, store(s, "")) + siteBlock(s, gateway("")+"\n\treverse_proxy "+s.upstream)
	}},
	{"forward", "gateway, forward mode (embedded store)", func(s site) string {
		return globals(s, store(s, "")) + siteBlock(s, gateway(fmt.Sprintf("http://%s/events", s.upstream)))
	}},
	{"forward_app_down", "gateway, forward mode, application down", func(s site) string {
		return globals(s, store(s, "")) + siteBlock(s, gateway(fmt.Sprintf("http://127.0.0.1:%d/events", s.deadPort)))
	}},
	{"forward_sync_always", "gateway, forward mode, `sync always`", func(s site) string {
		return globals(s, store(s, "always")) + siteBlock(s, gateway(fmt.Sprintf("http://%s/events", s.upstream)))
	}},
	// With the application down neither sync policy delivers during the run, so the pair
	// compares the cost of accepting alone: with it up, `sync always` (slower to ack) keeps up
	// with its deliveries and pays for them within the run, where `sync interval` leaves most
	// of them for later.
	{"forward_app_down_sync_always", "gateway, forward mode, application down, `sync always`", func(s site) string {
		return globals(s, store(s, "always")) + siteBlock(s, gateway(fmt.Sprintf("http://127.0.0.1:%d/events", s.deadPort)))
	}},
}

// gateway reports whether the configuration runs the webhook gateway (it then needs a
// new idempotency key per request).
func (sc scenario) gateway() bool {
	return strings.HasPrefix(sc.Name, "gate") || strings.HasPrefix(sc.Name, "forward")
}

// globals is the global options block: admin on its own loopback port (it serves
// /debug/pprof/ too), no autosave, no HTTPS automation, plus extra options.
func globals(s site, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "{\n\tadmin 127.0.0.1:%d\n\tpersist_config off\n\tauto_https off\n\tgrace_period 2s\n", s.adminPort)
	b.WriteString(extra)
	b.WriteString("}\n\n")
	return b.String()
}

// store is the gateway's global option: the embedded store in the run's directory, with
// an optional sync policy.
func store(s site, sync string) string {
	opt := "\twebhook_gateway {\n\t\tstore embedded " + s.storeDir + "\n"
	if sync != "" {
		opt += "\t\tsync " + sync + "\n"
	}
	return opt + "\t}\n"
}

// siteBlock is the site on loopback with the given directives.
func siteBlock(s site, body string) string {
	return fmt.Sprintf("http://127.0.0.1:%d {\n\t%s\n}\n", s.sitePort, body)
}

// gateway is the webhook_gateway directive for the benchmark's vendor and credentials;
// with forward set, in forward mode.
func gateway(forward string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "webhook_gateway {\n\t\tvendor %s\n\t\tauth basic %s %s\n", benchVendor, benchUser, benchPassword)
	if forward != "" {
		fmt.Fprintf(&b, "\t\tforward %s\n", forward)
	}
	b.WriteString("\t}")
	return b.String()
}

// memoryScenario is the forward-mode configuration of the memory benchmark. Its deliveries
// fall behind the accepts (a quarter delivered by the end of a throughput run), so with the
// default max_queue (1 GiB of undelivered events, about a million) a run of several million
// keys would be cut short by 503 queue_full: the quota is raised out of the way.
var memoryScenario = scenario{"forward_mem", "gateway, forward mode, max_queue 64GiB", func(s site) string {
	return globals(s, store(s, "")) + siteBlock(s, gateway(fmt.Sprintf("http://%s/events {\n\t\t\tmax_queue 64GiB\n\t\t}", s.upstream)))
}}
