package caddymodule

// Version is the module's release, logged when the gateway starts. Keep it in
// step with CHANGELOG.md and the git tag (v<Version>).
const Version = "0.1.0"
