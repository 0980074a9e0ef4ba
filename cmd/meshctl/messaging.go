package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

func (c *cli) pubCmd() *cobra.Command {
	var data, typ, source, id, key, contentType string
	cmd := &cobra.Command{
		Use:   "pub BROKER TOPIC",
		Short: "Publish one message through meshd (from --data or standard input)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var body io.Reader = strings.NewReader(data)
			if data == "" {
				body = cmd.InOrStdin()
			}
			u := fmt.Sprintf("http://%s/messaging/publish?broker=%s&topic=%s", c.admin, url.QueryEscape(args[0]), url.QueryEscape(args[1]))
			req, err := http.NewRequest(http.MethodPost, u, body)
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", contentType)
			req.Header.Set("ce-specversion", "1.0")
			req.Header.Set("ce-type", typ)
			req.Header.Set("ce-source", source)
			if id != "" {
				req.Header.Set("ce-id", id)
			}
			if key != "" {
				req.Header.Set("ce-partitionkey", key)
			}
			resp, err := c.http.Do(req)
			if err != nil {
				return fmt.Errorf("cannot reach meshd admin API at %s: %w", c.admin, err)
			}
			defer resp.Body.Close()
			msg, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusNoContent {
				return fmt.Errorf("publish refused: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
			}
			fmt.Fprintf(c.out, "published to %s/%s (confirmed by the broker)\n", args[0], args[1])
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", "", "message payload (default: standard input)")
	cmd.Flags().StringVar(&typ, "type", "meshctl.message", "CloudEvents type")
	cmd.Flags().StringVar(&source, "source", "/meshctl", "CloudEvents source")
	cmd.Flags().StringVar(&id, "id", "", "message id (default: generated)")
	cmd.Flags().StringVar(&key, "key", "", "partition / routing key")
	cmd.Flags().StringVar(&contentType, "content-type", "application/json", "payload content type")
	return cmd
}

func (c *cli) subCmd() *cobra.Command {
	var group, from string
	var count int
	cmd := &cobra.Command{
		Use:   "sub BROKER TOPIC",
		Short: "Print messages of a topic as they arrive (consumes in its own group; on RabbitMQ it competes for the queue)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{"broker": {args[0]}, "topic": {args[1]}, "group": {group}, "from": {from}}
			n := 0
			return c.streamLines("/messaging/tail?"+q.Encode(), "", "subscribe", func(line string) bool {
				if c.output == "json" {
					fmt.Fprintln(c.out, line)
				} else {
					var m struct {
						ID, Type, Payload string
						Attempt           int
					}
					_ = json.Unmarshal([]byte(line), &m)
					fmt.Fprintf(c.out, "%s\t%s\t%s\n", m.ID, m.Type, m.Payload)
				}
				n++
				return count == 0 || n < count
			})
		},
	}
	cmd.Flags().StringVar(&group, "group", "", "consumer group (default: a new one)")
	cmd.Flags().StringVar(&from, "from", "latest", "where a new group starts: latest or earliest")
	cmd.Flags().IntVar(&count, "count", 0, "stop after this many messages (0: until interrupted)")
	return cmd
}
