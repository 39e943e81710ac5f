package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"os"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

// registerCommands adds `caddy webhook …`, a client of the admin API.
func registerCommands() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "webhook",
		Usage: "stats [<route>] | dead-letters <route> | show <route> <id> | replay <route> <id> | delete <route> <id>",
		Short: "Inspects the webhook gateway's queues and dead letters",
		Long: `
Talks to the running Caddy's admin endpoint (--address, default localhost:2019):

  caddy webhook stats [<route>]        queue stats (pending, in flight, dead)
  caddy webhook dead-letters <route>   list a route's dead letters
  caddy webhook show <route> <id>      show one dead letter with its body
  caddy webhook replay <route> <id>    deliver a dead letter again
  caddy webhook delete <route> <id>    drop a dead letter
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().String("address", "", "the admin API address (default: localhost:2019)")
			cmd.Args = cobra.RangeArgs(1, 3)
			cmd.RunE = func(cmd *cobra.Command, args []string) error {
				addr, _ := cmd.Flags().GetString("address")
				return runWebhookCommand(addr, args, os.Stdout)
			}
		},
	})
}

func runWebhookCommand(addr string, args []string, out io.Writer) error {
	if addr == "" {
		addr = "localhost:2019"
	}
	method, uri, err := webhookCommandRequest(args)
	if err != nil {
		return err
	}
	resp, err := caddycmd.AdminAPIRequest(addr, method, uri, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(out, resp.Body)
	return err
}

// webhookCommandRequest maps the CLI arguments to an admin API request.
func webhookCommandRequest(args []string) (method, uri string, err error) {
	need := func(n int) error {
		if len(args) != n {
			return fmt.Errorf("%s takes %d argument(s)", args[0], n-1)
		}
		return nil
	}
	base := adminPrefix + "routes"
	switch args[0] {
	case "stats":
		if len(args) == 1 {
			return http.MethodGet, base, nil
		}
		if err := need(2); err != nil {
			return "", "", err
		}
		return http.MethodGet, base + "/" + args[1], nil
	case "dead-letters":
		if err := need(2); err != nil {
			return "", "", err
		}
		return http.MethodGet, base + "/" + args[1] + "/dead_letters", nil
	case "show":
		if err := need(3); err != nil {
			return "", "", err
		}
		return http.MethodGet, base + "/" + args[1] + "/dead_letters/" + args[2], nil
	case "replay":
		if err := need(3); err != nil {
			return "", "", err
		}
		return http.MethodPost, base + "/" + args[1] + "/dead_letters/" + args[2] + "/replay", nil
	case "delete":
		if err := need(3); err != nil {
			return "", "", err
		}
		return http.MethodDelete, base + "/" + args[1] + "/dead_letters/" + args[2], nil
	}
	return "", "", fmt.Errorf("unknown webhook subcommand %q", args[0])
}
