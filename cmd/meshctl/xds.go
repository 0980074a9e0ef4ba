package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/wasmesh/wasmesh/xds"
)

// xdsCmd prints the xDS client's state from /config_dump's sources.xds:
// the management server, the stream, and per resource type the version
// and nonce in force and the last NACK.
func (c *cli) xdsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "xds",
		Short: "Show the xDS stream: per type the version, nonce and last NACK",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var dump struct {
				Sources struct {
					XDS *xds.Status `json:"xds"`
				} `json:"sources"`
			}
			if err := c.get("/config_dump", &dump); err != nil {
				return err
			}
			st := dump.Sources.XDS
			if st == nil {
				return fmt.Errorf("this meshd does not take its config from xDS (start it with --xds-server or a --bootstrap with dynamic_resources)")
			}
			return c.emit(st, func(w *tabwriter.Writer) {
				state := "disconnected"
				if st.Connected {
					state = "connected"
				}
				fmt.Fprintf(w, "server\t%s (%s, %s)\n", st.Server, st.Mode, state)
				fmt.Fprintf(w, "node\t%s\n", st.Node)
				fmt.Fprintf(w, "applied\t%s\n", dash(st.AppliedVersion))
				if st.LastApplyError != "" {
					fmt.Fprintf(w, "last apply error\t%s\n", st.LastApplyError)
				}
				if st.LastError != "" {
					fmt.Fprintf(w, "last stream error\t%s\n", st.LastError)
				}
				fmt.Fprintf(w, "reconnects\t%d\n\n", st.Reconnects)
				fmt.Fprintln(w, "TYPE\tVERSION\tNONCE\tRESOURCES\tACKS\tNACKS\tLAST NACK")
				for _, typ := range []string{"cds", "eds", "lds", "rds"} {
					ts := st.Types[typ]
					nack := "-"
					if ts.LastNACK != nil {
						nack = fmt.Sprintf("%s (version %s): %s", ts.LastNACK.At.Format("15:04:05"), dash(ts.LastNACK.Version), ts.LastNACK.Error)
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", typ, dash(ts.Version), dash(ts.Nonce), ts.Resources, ts.ACKs, ts.NACKs, nack)
				}
				for _, m := range st.Waiting.Endpoints {
					fmt.Fprintf(w, "waiting for endpoints of\t%s\n", m)
				}
				for _, m := range st.Waiting.Routes {
					fmt.Fprintf(w, "waiting for route configuration\t%s\n", m)
				}
				for _, m := range st.Waiting.Clusters {
					fmt.Fprintf(w, "waiting for cluster\t%s\n", m)
				}
				for _, warn := range st.Warnings {
					fmt.Fprintf(w, "warning\t%s\n", warn)
				}
			})
		},
	}
}
