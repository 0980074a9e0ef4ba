package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func (c *cli) eventsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "Append to, read and tail meshd's event log"}
	var expected, typ, data string
	app := &cobra.Command{
		Use:   "append STREAM",
		Short: "Append one event (--type, --data JSON) with an optional --expected-version",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if data == "" {
				data = "{}"
			}
			body, _ := json.Marshal(map[string]any{"type": typ, "data": json.RawMessage(data)})
			req, _ := http.NewRequest(http.MethodPost, "http://"+c.admin+"/events/streams/"+url.PathEscape(args[0]), strings.NewReader(string(body)))
			req.Header.Set("Expected-Version", expected)
			resp, err := c.http.Do(req)
			if err != nil {
				return fmt.Errorf("cannot reach meshd admin API at %s: %w", c.admin, err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusCreated {
				return fmt.Errorf("append refused: %s: %s", resp.Status, strings.TrimSpace(string(b)))
			}
			var v any
			_ = json.Unmarshal(b, &v)
			return c.emit(v, func(w *tabwriter.Writer) { fmt.Fprintf(w, "appended: %s\n", strings.TrimSpace(string(b))) })
		},
	}
	app.Flags().StringVar(&expected, "expected-version", "any", "any, no-stream or a version")
	app.Flags().StringVar(&typ, "type", "", "event type (required)")
	app.Flags().StringVar(&data, "data", "", "event data as JSON")
	_ = app.MarkFlagRequired("type")

	var from, limit string
	var backward bool
	read := &cobra.Command{
		Use:   "read STREAM",
		Short: "Read a stream ($all for every stream in global order)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{"from": {from}, "limit": {limit}}
			if backward {
				q.Set("direction", "backward")
			}
			var evs []map[string]any
			if err := c.get("/events/streams/"+url.PathEscape(args[0])+"?"+q.Encode(), &evs); err != nil {
				return err
			}
			return c.emit(evs, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "POSITION\tSTREAM\tVERSION\tTYPE\tTIME\tDATA")
				for _, e := range evs {
					d, _ := json.Marshal(e["data"])
					fmt.Fprintf(w, "%v\t%v\t%v\t%v\t%v\t%s\n", e["position"], e["stream"], e["version"], e["type"], e["time"], d)
				}
			})
		},
	}
	read.Flags().StringVar(&from, "from", "0", "first version (or global position for $all)")
	read.Flags().StringVar(&limit, "limit", "100", "at most this many events")
	read.Flags().BoolVar(&backward, "backward", false, "newest first")

	var filter string
	var count int
	tail := &cobra.Command{
		Use:   "tail [STREAM]",
		Short: "Print events as they are appended (catch-up from --from, then live)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			stream := "$all"
			if len(args) == 1 {
				stream = args[0]
			}
			q := url.Values{"from": {from}, "filter": {filter}}
			n := 0
			return c.streamLines("/events/streams/"+url.PathEscape(stream)+"?"+q.Encode(), "text/event-stream", "tail", func(line string) bool {
				if !strings.HasPrefix(line, "data: ") || line == "data: {}" {
					return true
				}
				payload := strings.TrimPrefix(line, "data: ")
				if c.output == "json" {
					fmt.Fprintln(c.out, payload)
				} else {
					var e map[string]any
					_ = json.Unmarshal([]byte(payload), &e)
					d, _ := json.Marshal(e["data"])
					fmt.Fprintf(c.out, "%v\t%v@%v\t%v\t%s\n", e["position"], e["stream"], e["version"], e["type"], d)
				}
				n++
				return count == 0 || n < count
			})
		},
	}
	tail.Flags().StringVar(&from, "from", "0", "global position to start after")
	tail.Flags().StringVar(&filter, "filter", "all", "with $all: all, stream:NAME or category:NAME")
	tail.Flags().IntVar(&count, "count", 0, "stop after this many events (0: until interrupted)")

	stats := &cobra.Command{
		Use:   "stats",
		Short: "Show the event log's backend and head position",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var v map[string]any
			if err := c.get("/events/stats", &v); err != nil {
				return err
			}
			return c.emit(v, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "backend\t%v\nhead_position\t%v\n", v["backend"], v["head_position"])
			})
		},
	}
	cmd.AddCommand(app, read, tail, stats)
	return cmd
}
