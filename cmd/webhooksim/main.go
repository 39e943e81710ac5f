// Command webhooksim simulates identity-verification vendors (Unico, Incode, Attestr,
// IDWise) sending webhooks to the gateway, one at a time or as load.
//
//	webhooksim send -vendor idwise -url http://127.0.0.1:8080/webhooks/idwise -basic idwise:secret
//	webhooksim load -vendor idwise -url http://127.0.0.1:8080/webhooks/idwise -basic idwise:secret -c 64 -duration 10s -dup 0.1
//	webhooksim load ... -rate 2000            # open loop: fixed arrival rate
//	webhooksim list                           # vendors, families and events
//
// send prints the answer (status, X-Webhook-Id, X-Webhook-Duplicate, body) and exits 0
// on a 2xx. load reports requests/s and p50/p99/p99.9 latency, and can write JSON.
package main

import (
	"fmt"
	"os"
)

const usage = `usage: webhooksim <command> [flags]

commands:
  send   send one realistic webhook of a vendor and event, with that vendor's auth
  load   send load: fixed concurrency for a fixed time, or a fixed rate (-rate)
  list   list the vendors, event families and events

Run "webhooksim <command> -h" for the flags of a command.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "send":
		err = runSend(os.Args[2:], os.Stdout)
	case "load":
		err = runLoad(os.Args[2:], os.Stdout)
	case "list":
		runList(os.Stdout)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(os.Stdout, usage)
	default:
		fmt.Fprintf(os.Stderr, "webhooksim: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "webhooksim:", err)
		os.Exit(1)
	}
}
