package vendors

import (
	"fmt"
	"slices"
	"strings"
)

// DefaultFamily is the family chosen for a vendor that needs one when none is given.
var DefaultFamily = map[string]string{"incode": "onboarding_status"}

// Vendors returns the vendor names of the catalog, sorted.
func Vendors() []string {
	var out []string
	for _, e := range catalog {
		if !slices.Contains(out, e.Vendor) {
			out = append(out, e.Vendor)
		}
	}
	slices.Sort(out)
	return out
}

// Select returns the events of vendor and family, optionally only the one named name.
// An empty family selects every event of a single-family vendor, all shapes of
// unico_magiclink (its combined preset tells them apart), and DefaultFamily for Incode.
// Event names match case-insensitively, with spaces and dashes read as underscores, so
// IDWise's "Finished Journey" selects finished_journey.
func Select(vendor, family, name string) ([]Event, error) {
	if !slices.Contains(Vendors(), vendor) {
		return nil, fmt.Errorf("unknown vendor %q (want one of: %s)", vendor, strings.Join(Vendors(), ", "))
	}
	if family == "" {
		family = DefaultFamily[vendor]
	}
	var out []Event
	for _, e := range catalog {
		if e.Vendor == vendor && (family == "" || e.Family == family) {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("unknown %s event family %q (want one of: %s)", vendor, family, strings.Join(families(vendor), ", "))
	}
	if name == "" {
		return out, nil
	}
	want := normalize(name)
	for _, e := range out {
		if normalize(e.Name) == want {
			return []Event{e}, nil
		}
	}
	names := make([]string, len(out))
	for i, e := range out {
		names[i] = e.Name
	}
	return nil, fmt.Errorf("unknown %s event %q (want one of: %s)", vendor, name, strings.Join(names, ", "))
}

// families lists the families of vendor that the catalog has, sorted.
func families(vendor string) []string {
	var out []string
	for _, e := range catalog {
		if e.Vendor == vendor && e.Family != "" && !slices.Contains(out, e.Family) {
			out = append(out, e.Family)
		}
	}
	slices.Sort(out)
	return out
}

// normalize folds an event name for matching.
func normalize(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-':
			return '_'
		}
		if 'A' <= r && r <= 'Z' {
			return r - 'A' + 'a'
		}
		return r
	}, strings.TrimSpace(s))
}
