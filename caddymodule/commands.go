package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/delivery"
)

// registerCommands adds `caddy webhook …`, a client of the admin API.
func registerCommands() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "webhook",
		Usage: "health | stats [<route>] | dead-letters <route> [--all] | events <route> [--since T] [--until T] [--key K] [--status S] | show|replay|delete <route> <id> | replay <route> --all | replay <route> --since T [--until T] [--status S] | attach <orphan> <route> | drain <orphan> <url> | discard <orphan>",
		Short: "Inspects the webhook gateway's queues and dead letters",
		Long: `
Talks to the running Caddy's admin endpoint (--address, default localhost:2019):

  caddy webhook health                 exit 0 when the store answers and every route runs
  caddy webhook stats [<route>]        queue stats (pending, in flight, dead) of every route,
                                       orphaned queues included ("orphaned": true)
  caddy webhook dead-letters <route>   list a route's dead letters (--limit, --cursor, or --all)
  caddy webhook show <route> <id>      show one dead letter with its body
  caddy webhook events <route>         a page of the route's event history, oldest first
                                       (--since, --until as RFC 3339, --key, --status
                                       pending|delivered|dead, --limit, --cursor)
  caddy webhook replay <route> <id>    deliver a dead letter, or an event of the history, again
  caddy webhook replay <route> --since T [--until T] [--status S]
                                       deliver every event of the history stored in the range
                                       again, paced by the route's rate and concurrency
  caddy webhook replay <route> --all   deliver every dead letter again, paced by the route's
                                       rate (quarantined ones only with --include-quarantined)
  caddy webhook delete <route> <id>    drop a dead letter
  caddy webhook attach <orphan> <route>  move an orphaned queue (events, keys, dead letters)
                                       into a configured route, which delivers them
  caddy webhook drain <orphan> <url>   deliver an orphaned queue's events to <url> (default
                                       retries), then remove the queue
  caddy webhook discard <orphan>       delete an orphaned queue with its events (--yes)
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().String("address", "", "the admin API address (default: localhost:2019)")
			cmd.Flags().Bool("all", false, "dead-letters: every page; replay: every dead letter of the route")
			cmd.Flags().Bool("include-quarantined", false, "replay --all: also replay quarantined events (schema violations)")
			cmd.Flags().Int("limit", 0, "dead-letters: page size (at most 1000)")
			cmd.Flags().String("cursor", "", "dead-letters: start at this cursor (printed to stderr after a page)")
			cmd.Flags().Bool("yes", false, "discard: confirm that the orphaned queue's events are dropped")
			cmd.Flags().String("since", "", "events, replay: from this time (RFC 3339)")
			cmd.Flags().String("until", "", "events, replay: up to this time (RFC 3339, exclusive)")
			cmd.Flags().String("key", "", "events: only the events with this idempotency key")
			cmd.Flags().String("status", "", "events, replay --since: pending, delivered or dead")
			cmd.Args = cobra.RangeArgs(1, 3)
			cmd.RunE = func(cmd *cobra.Command, args []string) error {
				var o cliOptions
				o.addr, _ = cmd.Flags().GetString("address")
				o.all, _ = cmd.Flags().GetBool("all")
				o.quarantined, _ = cmd.Flags().GetBool("include-quarantined")
				o.limit, _ = cmd.Flags().GetInt("limit")
				o.cursor, _ = cmd.Flags().GetString("cursor")
				o.yes, _ = cmd.Flags().GetBool("yes")
				o.since, _ = cmd.Flags().GetString("since")
				o.until, _ = cmd.Flags().GetString("until")
				o.key, _ = cmd.Flags().GetString("key")
				o.status, _ = cmd.Flags().GetString("status")
				return runWebhookCommand(o, args, os.Stdout, os.Stderr)
			}
		},
	})
}

// cliOptions are the flags of `caddy webhook`.
type cliOptions struct {
	addr        string
	all         bool
	quarantined bool
	limit       int
	cursor      string
	yes         bool
	since       string
	until       string
	key         string
	status      string
}

func runWebhookCommand(o cliOptions, args []string, out, errOut io.Writer) error {
	if o.addr == "" {
		o.addr = "localhost:2019"
	}
	switch {
	case args[0] == "events":
		if len(args) != 2 {
			return fmt.Errorf("events takes the route only")
		}
		return listEvents(o, args[1], out, errOut)
	case args[0] == "replay" && o.since != "":
		if len(args) != 2 || o.all {
			return fmt.Errorf("replay --since takes the route only (and not --all)")
		}
		return replayRange(o, args[1], out)
	case args[0] == "replay" && o.until != "":
		return fmt.Errorf("replay --until needs --since")
	case args[0] == "replay" && len(args) == 3:
		return replayOne(o, args, out)
	case args[0] == "replay" && o.all:
		if len(args) != 2 {
			return fmt.Errorf("replay --all takes the route only")
		}
		return replayAll(o, args[1], out)
	case args[0] == "dead-letters" && o.all:
		if len(args) != 2 {
			return fmt.Errorf("dead-letters takes 1 argument(s)")
		}
		var all []json.RawMessage
		err := eachDeadLetterPage(o.addr, args[1], "", func(page []json.RawMessage) error {
			all = append(all, page...)
			return nil
		})
		if err != nil {
			return err
		}
		if all == nil {
			all = []json.RawMessage{}
		}
		return printJSON(out, all)
	case args[0] == "discard" && !o.yes:
		return fmt.Errorf("discard drops the orphaned queue's events for good: add --yes (or attach it to a route instead)")
	}
	method, uri, err := webhookCommandRequest(args)
	if err != nil {
		return err
	}
	if args[0] == "dead-letters" && (o.limit > 0 || o.cursor != "") {
		q := url.Values{}
		if o.limit > 0 {
			q.Set("limit", strconv.Itoa(o.limit))
		}
		if o.cursor != "" {
			q.Set("cursor", o.cursor)
		}
		uri += "?" + q.Encode()
	}
	resp, err := caddycmd.AdminAPIRequest(o.addr, method, uri, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if c := resp.Header.Get("X-Next-Cursor"); c != "" {
		fmt.Fprintf(errOut, "more dead letters: --cursor %s (or --all)\n", c)
	}
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
	case "health":
		if err := need(1); err != nil {
			return "", "", err
		}
		return http.MethodGet, adminPrefix + "health", nil
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
	case "attach":
		if err := need(3); err != nil {
			return "", "", err
		}
		return http.MethodPost, base + "/" + args[1] + "/attach?to=" + url.QueryEscape(args[2]), nil
	case "drain":
		if err := need(3); err != nil {
			return "", "", err
		}
		return http.MethodPost, base + "/" + args[1] + "/drain?to=" + url.QueryEscape(args[2]), nil
	case "discard":
		if err := need(2); err != nil {
			return "", "", err
		}
		return http.MethodDelete, base + "/" + args[1] + "?discard=true", nil
	}
	return "", "", fmt.Errorf("unknown webhook subcommand %q", args[0])
}

// eachDeadLetterPage calls f with every page of a route's dead letters,
// following the cursor, starting at cursor ("" for the oldest).
func eachDeadLetterPage(addr, route, cursor string, f func([]json.RawMessage) error) error {
	for {
		uri := adminPrefix + "routes/" + route + "/dead_letters?limit=1000"
		if cursor != "" {
			uri += "&cursor=" + url.QueryEscape(cursor)
		}
		resp, err := caddycmd.AdminAPIRequest(addr, http.MethodGet, uri, nil, nil)
		if err != nil {
			return err
		}
		var page []json.RawMessage
		err = json.NewDecoder(resp.Body).Decode(&page)
		next := resp.Header.Get("X-Next-Cursor")
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("reading dead letters: %v", err)
		}
		if err := f(page); err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}

// replayAll replays every dead letter of a route, one admin call per dead
// letter, at most at the route's rate (forward rate); quarantined events
// only when asked (reason schema: they failed the schema).
func replayAll(o cliOptions, route string, out io.Writer) error {
	resp, err := caddycmd.AdminAPIRequest(o.addr, http.MethodGet, adminPrefix+"routes/"+route, nil, nil)
	if err != nil {
		return err
	}
	var rv routeView
	err = json.NewDecoder(resp.Body).Decode(&rv)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("reading route %s: %v", route, err)
	}
	if rv.Orphaned {
		return fmt.Errorf("route %s is an orphaned queue: attach it to a route first", route)
	}
	var pace *time.Ticker
	if rv.RatePerSecond > 0 {
		pace = time.NewTicker(time.Duration(float64(time.Second) / rv.RatePerSecond))
		defer pace.Stop()
	}
	// The list is taken first, so that an event that dies again during the
	// run is not replayed twice by it.
	var ids []string
	skipped := 0
	err = eachDeadLetterPage(o.addr, route, "", func(page []json.RawMessage) error {
		for _, raw := range page {
			var dl struct {
				ID     string `json:"id"`
				Reason string `json:"reason"`
			}
			if err := json.Unmarshal(raw, &dl); err != nil {
				return err
			}
			if dl.Reason == delivery.ReasonSchema && !o.quarantined {
				skipped++
				continue
			}
			ids = append(ids, dl.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	replayed := 0
	for _, id := range ids {
		if pace != nil && replayed > 0 {
			<-pace.C
		}
		r, rerr := caddycmd.AdminAPIRequest(o.addr, http.MethodPost, adminPrefix+"routes/"+route+"/dead_letters/"+url.PathEscape(id)+"/replay", nil, nil)
		if rerr != nil {
			err = fmt.Errorf("replay %s (after %d replayed): %v", id, replayed, rerr)
			break
		}
		r.Body.Close()
		replayed++
	}
	fmt.Fprintf(out, "replayed %d dead letters of route %s", replayed, route)
	if skipped > 0 {
		fmt.Fprintf(out, " (%d quarantined left alone: --include-quarantined replays them)", skipped)
	}
	fmt.Fprintln(out)
	return err
}

// listEvents prints one page of a route's event history; the next page's cursor goes to errOut.
func listEvents(o cliOptions, route string, out, errOut io.Writer) error {
	q := url.Values{}
	for k, v := range map[string]string{"since": o.since, "until": o.until, "key": o.key, "status": o.status, "cursor": o.cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if o.limit > 0 {
		q.Set("limit", strconv.Itoa(o.limit))
	}
	uri := adminPrefix + "routes/" + url.PathEscape(route) + "/events"
	if len(q) > 0 {
		uri += "?" + q.Encode()
	}
	resp, err := caddycmd.AdminAPIRequest(o.addr, http.MethodGet, uri, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var page eventPageJSON
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return fmt.Errorf("reading events: %v", err)
	}
	if page.NextCursor != "" {
		fmt.Fprintf(errOut, "more events: --cursor %s\n", page.NextCursor)
	}
	return printJSON(out, page)
}

// eventPageJSON is an events page as the CLI reads it back: the events stay as the API wrote them.
type eventPageJSON struct {
	Events     []json.RawMessage `json:"events"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

// replayOne replays (args: replay <route> <id>) the dead letter with that ID, or else the event
// of the history with that ID.
func replayOne(o cliOptions, args []string, out io.Writer) error {
	if len(args) != 3 {
		return fmt.Errorf("replay takes <route> <id>")
	}
	route, id := args[1], args[2]
	base := adminPrefix + "routes/" + url.PathEscape(route)
	resp, err := caddycmd.AdminAPIRequest(o.addr, http.MethodPost, base+"/dead_letters/"+url.PathEscape(id)+"/replay", nil, nil)
	if err != nil && strings.Contains(err.Error(), "HTTP 404") {
		resp, err = caddycmd.AdminAPIRequest(o.addr, http.MethodPost, base+"/events/"+url.PathEscape(id)+"/replay", nil, nil)
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(out, resp.Body)
	return err
}

// replayRange replays every event of the history in [--since, --until).
func replayRange(o cliOptions, route string, out io.Writer) error {
	req := map[string]string{"since": o.since}
	if o.until != "" {
		req["until"] = o.until
	}
	if o.status != "" {
		req["status"] = o.status
	}
	body, _ := json.Marshal(req)
	resp, err := caddycmd.AdminAPIRequest(o.addr, http.MethodPost, adminPrefix+"routes/"+url.PathEscape(route)+"/replay", nil, bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(out, resp.Body)
	return err
}

func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
