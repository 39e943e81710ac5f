package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/vendors"
)

// runList prints every vendor, family and event of the catalog.
func runList(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VENDOR\tFAMILY\tEVENT\tWEIGHT")
	for _, e := range vendors.Catalog() {
		fam := e.Family
		if fam == "" {
			fam = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", e.Vendor, fam, e.Name, e.Weight)
	}
	_ = tw.Flush()
}
