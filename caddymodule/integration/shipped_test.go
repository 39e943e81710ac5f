package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"go.yaml.in/yaml/v3"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// The files a user copies: the default Caddyfile, the examples, and the
// Caddyfile inside the Kubernetes manifest.
const (
	repoRoot    = "../.."
	exampleEnv  = repoRoot + "/examples/example.env"
	k8sManifest = repoRoot + "/examples/kubernetes-sidecar.yaml"
	composeFile = repoRoot + "/examples/docker-compose.yml"
	dockerfile  = repoRoot + "/examples/Dockerfile"
)

// loadExampleEnv sets the dummy secrets of examples/example.env, as
// `caddy run --envfile examples/example.env` does.
func loadExampleEnv(t *testing.T) {
	t.Helper()
	f, err := os.Open(exampleEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: bad line %q", exampleEnv, line)
		}
		t.Setenv(k, v)
	}
}

// shippedCaddyfiles returns every shipped Caddyfile as name -> path on disk
// (the manifest's is written to a temp file).
func shippedCaddyfiles(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{"Caddyfile": filepath.Join(repoRoot, "Caddyfile")}
	examples, err := filepath.Glob(filepath.Join(repoRoot, "examples", "*.Caddyfile"))
	if err != nil || len(examples) == 0 {
		t.Fatalf("no example Caddyfiles: %v", err)
	}
	for _, f := range examples {
		out["examples/"+filepath.Base(f)] = f
	}
	if body := k8sCaddyfile(t); body != "" {
		f := filepath.Join(t.TempDir(), "k8s.Caddyfile")
		if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		out["examples/kubernetes-sidecar.yaml (ConfigMap)"] = f
	}
	return out
}

// yamlDocs parses every document of a YAML file.
func yamlDocs(t *testing.T, file string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if err == io.EOF {
			return docs
		}
		if err != nil {
			t.Fatalf("%s does not parse: %v", file, err)
		}
		docs = append(docs, d)
	}
}

// k8sCaddyfile returns the Caddyfile of the manifest's ConfigMap.
func k8sCaddyfile(t *testing.T) string {
	t.Helper()
	for _, d := range yamlDocs(t, k8sManifest) {
		if d["kind"] == "ConfigMap" {
			data, _ := d["data"].(map[string]any)
			s, _ := data["Caddyfile"].(string)
			return s
		}
	}
	return ""
}

// testableConfig adapts a shipped Caddyfile and moves what would clash with
// this machine: the admin endpoint and the HTTP ports become the test's, each
// server listens on one free loopback port, and the store is a temporary
// embedded one (the scale-out example's NATS cluster is not running here).
// It returns the JSON and, per server, its port and the hosts it matches.
func testableConfig(t *testing.T, file string) ([]byte, map[string]int, map[string][]string) {
	t.Helper()
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	adapted, warns, err := caddyconfig.GetAdapter("caddyfile").Adapt(body, map[string]any{"filename": file})
	if err != nil {
		t.Fatalf("adapt %s: %v", file, err)
	}
	for _, w := range warns {
		t.Logf("%s: adapter warning: %s", file, w.Message)
	}
	var cfg map[string]any
	if err := json.Unmarshal(adapted, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["admin"] = map[string]any{"listen": fmt.Sprintf("localhost:%d", adminPort)}
	apps, _ := cfg["apps"].(map[string]any)
	httpApp, _ := apps["http"].(map[string]any)
	httpApp["http_port"], httpApp["https_port"], httpApp["grace_period"] = httpPort, httpsPort, 1
	ports, hosts := map[string]int{}, map[string][]string{}
	servers, _ := httpApp["servers"].(map[string]any)
	for name, s := range servers {
		srv := s.(map[string]any)
		port := testkit.FreePort(t)
		srv["listen"] = []string{fmt.Sprintf("127.0.0.1:%d", port)}
		srv["automatic_https"] = map[string]any{"disable": true}
		ports[name] = port
		routes, _ := srv["routes"].([]any)
		for _, r := range routes {
			for _, m := range asSlice(r.(map[string]any)["match"]) {
				for _, h := range asSlice(m.(map[string]any)["host"]) {
					hosts[name] = append(hosts[name], h.(string))
				}
			}
		}
	}
	apps["pki"] = map[string]any{"certificate_authorities": map[string]any{"local": map[string]any{"install_trust": false}}}
	gw, _ := apps["webhook_gateway"].(map[string]any)
	if gw == nil {
		gw = map[string]any{}
		apps["webhook_gateway"] = gw
	}
	gw["store"] = map[string]any{"mode": "embedded", "dir": filepath.Join(t.TempDir(), "store")}
	gw["drain_timeout"] = "1s"
	out, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out, ports, hosts
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// TestShippedCaddyfilesRefuseUnknownPaths starts every shipped Caddyfile with
// examples/example.env and POSTs to a path that is no webhook route on each of
// its sites (and each host name of the site): the answer must be a 404
// problem+json, never the empty 200 a vendor would count as delivered.
func TestShippedCaddyfilesRefuseUnknownPaths(t *testing.T) {
	testkit.SkipShort(t, "starts a real Caddy for each shipped Caddyfile") // here, not only in the subtests, so that -short reports a skip
	setTestEnv(t)
	loadExampleEnv(t)
	files := shippedCaddyfiles(t)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	client := &http.Client{Timeout: 10 * time.Second}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			cfg, ports, hosts := testableConfig(t, files[name])
			tester := newTester(t)
			tester.InitServer(string(cfg), "json")
			if t.Failed() {
				t.FailNow()
			}
			for srv, port := range ports {
				hs := hosts[srv]
				if len(hs) == 0 {
					hs = []string{"gateway.example.com"}
				}
				for _, host := range hs {
					for _, path := range []string{"/", "/webhooks/no-such-vendor", "/webhooks/idwise/typo"} {
						req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d%s", port, path), strings.NewReader(`{"event":"x"}`))
						req.Host = host
						req.Header.Set("Content-Type", "application/json")
						resp, err := client.Do(req)
						if err != nil {
							t.Fatalf("%s %s%s: %v", srv, host, path, err)
						}
						b, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if resp.StatusCode/100 == 2 {
							t.Fatalf("%s: POST http://%s%s answered %d: a vendor would count it as delivered", name, host, path, resp.StatusCode)
						}
						if resp.StatusCode == http.StatusNotFound {
							expectProblem(t, resp, b, http.StatusNotFound, "no_route")
						}
					}
				}
			}
		})
	}
}

// TestDefaultCaddyfileStandInLogsBodies: the default Caddyfile's stand-in
// application logs what it receives, body included.
func TestDefaultCaddyfileStandInLogsBodies(t *testing.T) {
	setTestEnv(t)
	cfg, ports, _ := testableConfig(t, filepath.Join(repoRoot, "Caddyfile"))
	var c map[string]any
	_ = json.Unmarshal(cfg, &c)
	logFile := filepath.Join(t.TempDir(), "standin.log")
	logs := c["logging"].(map[string]any)["logs"].(map[string]any)
	logs["standin"].(map[string]any)["writer"] = map[string]any{"output": "file", "filename": logFile}
	cfg, _ = json.Marshal(c)
	tester := newTester(t)
	tester.InitServer(string(cfg), "json")
	port := ports["srv1"]
	body := `{"event":"Finished Journey","body":{"eventId":"standin-1"}}`
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/events/idwise", port), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stand-in answered %d", resp.StatusCode)
	}
	testkit.WaitFor(t, 5*time.Second, "the stand-in's log line with the body", func() bool {
		for _, l := range readLogLines(t, logFile) {
			if l["body"] == body {
				return true
			}
		}
		return false
	})
}

// TestContainerFiles is the CI check of the container files (there is no
// container engine on the CI machines): the manifests parse, every Caddyfile
// they use adapts and validates, the store stays on the mounted volume, the
// image ships no config and runs as a non-root user, and the probes use the
// readiness endpoint.
func TestContainerFiles(t *testing.T) {
	setTestEnv(t)
	loadExampleEnv(t)

	compose := yamlDocs(t, composeFile)
	if len(compose) != 1 {
		t.Fatalf("%s: %d documents", composeFile, len(compose))
	}
	services, _ := compose[0]["services"].(map[string]any)
	gw, _ := services["gateway"].(map[string]any)
	if gw == nil {
		t.Fatal("docker-compose.yml has no gateway service")
	}
	var mounted []string
	dataVolume := false
	for _, v := range asSlice(gw["volumes"]) {
		src, dst, _ := strings.Cut(v.(string), ":")
		dst, _, _ = strings.Cut(dst, ":")
		if dst == "/etc/caddy/Caddyfile" {
			mounted = append(mounted, filepath.Join(repoRoot, "examples", src))
		}
		if dst == "/data" {
			dataVolume = true
		}
	}
	if len(mounted) != 1 || !dataVolume {
		t.Fatalf("compose gateway: Caddyfile mounts %v, /data volume %v", mounted, dataVolume)
	}
	env, _ := gw["environment"].(map[string]any)
	if app, _ := env["APP_URL"].(string); !strings.Contains(app, "//app:") {
		t.Errorf("compose: APP_URL %q does not point at the app service", app)
	}
	if hc, _ := gw["healthcheck"].(map[string]any); !strings.Contains(fmt.Sprint(hc["test"]), "webhook health") {
		t.Errorf("compose: the healthcheck does not use caddy webhook health: %v", hc)
	}

	var probes, nonRoot, pvc bool
	for _, d := range yamlDocs(t, k8sManifest) {
		if d["kind"] != "StatefulSet" {
			continue
		}
		spec := d["spec"].(map[string]any)
		pvc = len(asSlice(spec["volumeClaimTemplates"])) > 0
		pod := spec["template"].(map[string]any)["spec"].(map[string]any)
		sc, _ := pod["securityContext"].(map[string]any)
		nonRoot = sc["runAsNonRoot"] == true
		for _, c := range asSlice(pod["containers"]) {
			c := c.(map[string]any)
			if c["name"] != "webhook-gateway" {
				continue
			}
			probes = strings.Contains(fmt.Sprint(c["readinessProbe"]), "webhook health")
			res, _ := c["resources"].(map[string]any)
			if res["limits"] == nil {
				t.Error("k8s: the gateway container has no resource limits")
			}
			for _, m := range asSlice(c["volumeMounts"]) {
				m := m.(map[string]any)
				if m["mountPath"] == "/data" && m["name"] != "gateway-data" {
					t.Errorf("k8s: /data is not the PersistentVolumeClaim: %v", m)
				}
			}
		}
	}
	if !probes || !nonRoot || !pvc {
		t.Fatalf("k8s: readiness probe on health %v, runAsNonRoot %v, PVC %v", probes, nonRoot, pvc)
	}

	df, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	var user string
	for _, line := range strings.Split(string(df), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "COPY" && strings.Contains(strings.ToLower(line), "caddyfile") {
			t.Errorf("Dockerfile bakes a Caddyfile into the image: %s", line)
		}
		if len(f) >= 2 && f[0] == "USER" {
			user = f[1]
		}
	}
	if user == "" || strings.HasPrefix(user, "root") || strings.HasPrefix(user, "0") {
		t.Errorf("Dockerfile runs as %q, want a non-root USER", user)
	}
	if !strings.Contains(string(df), "rm -f /etc/caddy/Caddyfile") {
		t.Error("Dockerfile keeps the base image's demo Caddyfile")
	}

	// Every Caddyfile the container files use adapts and provisions, and
	// keeps the embedded store under Caddy's data dir (on the volume).
	k8s := filepath.Join(t.TempDir(), "k8s.Caddyfile")
	if err := os.WriteFile(k8s, []byte(k8sCaddyfile(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range append(mounted, k8s) {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := adaptAndValidate(string(body)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		adapted, _, _ := caddyconfig.GetAdapter("caddyfile").Adapt(body, nil)
		var cfg struct {
			Apps struct {
				Gateway struct {
					Store struct {
						Dir string `json:"dir"`
					} `json:"store"`
				} `json:"webhook_gateway"`
			} `json:"apps"`
		}
		_ = json.Unmarshal(adapted, &cfg)
		if d := cfg.Apps.Gateway.Store.Dir; d != "" && !strings.HasPrefix(d, "/data/") {
			t.Errorf("%s: the store is in %s, outside the /data volume", f, d)
		}
	}
}
