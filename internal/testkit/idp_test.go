package testkit

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func get(t *testing.T, c *http.Client, url string) (int, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestIdPPublishesItsKeys: a token SignJWT makes verifies against the key
// the provider publishes, found through discovery; rotation, failure and
// the issuer override show in what it serves and counts.
func TestIdPPublishesItsKeys(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := NewIdP(t, JWK("k1", rsaKey))
	c := p.Client()

	var doc map[string]string
	_, b := get(t, c, p.URL+"/.well-known/openid-configuration")
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["issuer"] != p.Issuer() || doc["jwks_uri"] != p.JWKSURL() || p.DiscoveryFetches.Load() != 1 {
		t.Fatalf("discovery %s (fetched %d times)", b, p.DiscoveryFetches.Load())
	}

	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	_, b = get(t, c, doc["jwks_uri"])
	if err := json.Unmarshal(b, &set); err != nil || len(set.Keys) != 1 || set.Keys[0]["kid"] != "k1" || set.Keys[0]["kty"] != "RSA" {
		t.Fatalf("key set %s, %v", b, err)
	}
	tok := SignJWT(t, jwt.SigningMethodRS256, rsaKey, "k1", jwt.MapClaims{"iss": p.Issuer()})
	parsed, err := jwt.Parse(tok, func(tk *jwt.Token) (any, error) {
		if tk.Header["kid"] != "k1" {
			t.Fatalf("kid %v", tk.Header["kid"])
		}
		return &rsaKey.PublicKey, nil
	}, jwt.WithValidMethods([]string{"RS256"}))
	if err != nil || !parsed.Valid {
		t.Fatalf("token does not verify: %v", err)
	}

	p.SetKeys(JWK("ec1", ecKey), JWK("ed1", edKey))
	_, b = get(t, c, p.JWKSURL())
	if err := json.Unmarshal(b, &set); err != nil || len(set.Keys) != 2 || set.Keys[0]["crv"] != "P-256" || set.Keys[1]["crv"] != "Ed25519" {
		t.Fatalf("rotated key set %s, %v", b, err)
	}
	p.FailJWKS.Store(true)
	if code, _ := get(t, c, p.JWKSURL()); code != http.StatusInternalServerError {
		t.Fatalf("failing key set answered %d", code)
	}
	if n := p.JWKSFetches.Load(); n != 3 {
		t.Fatalf("key set fetched %d times, want 3", n)
	}
	p.SetDocIssuer("https://other.example")
	_, b = get(t, c, p.URL+"/.well-known/openid-configuration")
	if err := json.Unmarshal(b, &doc); err != nil || doc["issuer"] != "https://other.example" {
		t.Fatalf("discovery after SetDocIssuer: %s", b)
	}
}
