package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"
	"github.com/wasmesh/wasmesh/conf"
)

type cli struct {
	admin  string
	output string
	out    io.Writer
	errOut io.Writer
	http   *http.Client
}

func newRoot(out, errOut io.Writer) *cobra.Command {
	c := &cli{out: out, errOut: errOut, http: &http.Client{Timeout: 10 * time.Second}}
	root := &cobra.Command{
		Use:           "meshctl",
		Short:         "Validate meshd configs and inspect a running meshd",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	defAdmin := os.Getenv("MESHD_ADMIN")
	if defAdmin == "" {
		defAdmin = conf.DefaultAdminAddress
	}
	root.PersistentFlags().StringVar(&c.admin, "admin", defAdmin, "meshd admin address (or MESHD_ADMIN)")
	root.PersistentFlags().StringVarP(&c.output, "output", "o", "table", "output format: table, json or yaml")
	root.SetOut(out)
	root.SetErr(errOut)
	root.AddCommand(c.validateCmd(), c.statusCmd(), c.routesCmd(), c.clustersCmd(), c.endpointsCmd(), c.statsCmd(), c.configCmd(), c.reloadCmd(), c.pubCmd(), c.subCmd(), c.xdsCmd())
	root.AddCommand(c.certsCmd())
	root.AddCommand(c.authzCmd())
	root.AddCommand(c.eventsCmd())
	root.AddCommand(c.topCmd())
	return root
}

func (c *cli) get(path string, v any) error {
	resp, err := c.http.Get("http://" + c.admin + path)
	if err != nil {
		return fmt.Errorf("cannot reach meshd admin API at %s (is meshd running? set --admin): %w", c.admin, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, v)
}

// streamLines reads a streaming admin endpoint (NDJSON or server-sent
// events) line by line until each returns false or the stream ends.
func (c *cli) streamLines(path, accept, what string, each func(line string) bool) error {
	req, err := http.NewRequest(http.MethodGet, "http://"+c.admin+path, nil)
	if err != nil {
		return err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := (&http.Client{}).Do(req) // no timeout: the stream is long-lived
	if err != nil {
		return fmt.Errorf("cannot reach meshd admin API at %s: %w", c.admin, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s refused: %s: %s", what, resp.Status, strings.TrimSpace(string(b)))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if !each(sc.Text()) {
			return nil
		}
	}
	return sc.Err()
}

// emit prints v as JSON or YAML when asked, else calls table.
func (c *cli) emit(v any, table func(w *tabwriter.Writer)) error {
	switch c.output {
	case "json":
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		// Through JSON, so the field names are the API's.
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		var generic any
		if err := json.Unmarshal(b, &generic); err != nil {
			return err
		}
		y, err := yaml.Marshal(generic)
		if err != nil {
			return err
		}
		_, err = c.out.Write(y)
		return err
	case "table", "":
		w := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
		table(w)
		return w.Flush()
	}
	return fmt.Errorf("unknown output %q: use table, json or yaml", c.output)
}

func (c *cli) validateCmd() *cobra.Command {
	var env string
	cmd := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a config (and its overlay) and print every problem",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := conf.Load(args[0], env)
			ps, isProblems := conf.AsProblems(err)
			if err != nil && !isProblems {
				return err
			}
			if c.output == "json" || c.output == "yaml" {
				if ps == nil {
					ps = conf.Problems{}
				}
				if err := c.emit(map[string]any{"valid": len(ps) == 0, "problems": ps}, nil); err != nil {
					return err
				}
			} else if len(ps) == 0 {
				fmt.Fprintf(c.out, "%s: valid\n", args[0])
			} else {
				for _, p := range ps {
					fmt.Fprintln(c.out, p.String())
				}
				fmt.Fprintf(c.out, "%d problem(s)\n", len(ps))
			}
			if len(ps) > 0 {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&env, "env", os.Getenv("MESHD_ENV"), "environment overlay (FILE.ENV.yaml)")
	return cmd
}

func (c *cli) statusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show meshd's state, version, uptime and config version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var info map[string]any
			if err := c.get("/server_info", &info); err != nil {
				return err
			}
			var dump struct {
				LastReloadError *struct {
					At  string `json:"at"`
					Err string `json:"error"`
				} `json:"last_reload_error"`
			}
			_ = c.get("/config_dump", &dump)
			if dump.LastReloadError != nil {
				info["last_reload_error"] = dump.LastReloadError.Err
			}
			return c.emit(info, func(w *tabwriter.Writer) {
				keys := make([]string, 0, len(info))
				for k := range info {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					fmt.Fprintf(w, "%s\t%v\n", k, info[k])
				}
			})
		},
	}
}

type routesResp struct {
	Routes []struct {
		Listener    string   `json:"listener"`
		VirtualHost string   `json:"virtual_host"`
		Name        string   `json:"name"`
		Match       string   `json:"match"`
		Action      string   `json:"action"`
		Timeout     string   `json:"timeout"`
		Retry       int      `json:"retry_attempts"`
		Filters     []string `json:"filters"`
	} `json:"routes"`
}

func (c *cli) routesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "routes",
		Short: "List the routes in force, in match order",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var r routesResp
			if err := c.get("/routes", &r); err != nil {
				return err
			}
			return c.emit(r, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "LISTENER\tVHOST\tROUTE\tMATCH\tACTION\tTIMEOUT\tRETRIES\tFILTERS")
				for _, x := range r.Routes {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", x.Listener, x.VirtualHost, x.Name, x.Match, x.Action, dash(x.Timeout), x.Retry, dash(strings.Join(x.Filters, ",")))
				}
			})
		},
	}
}

type clustersResp struct {
	Clusters []struct {
		Name           string `json:"name"`
		LB             string `json:"lb"`
		ActiveRequests int64  `json:"active_requests"`
		Endpoints      []struct {
			Address        string  `json:"address"`
			Weight         int     `json:"weight"`
			Healthy        bool    `json:"healthy"`
			Ejected        bool    `json:"ejected"`
			ActiveRequests int64   `json:"active_requests"`
			Requests       uint64  `json:"requests"`
			SuccessRate    float64 `json:"success_rate"`
			Source         string  `json:"source"`
		} `json:"endpoints"`
	} `json:"clusters"`
}

func (c *cli) clustersCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "clusters",
		Short: "List clusters with their policy and endpoint health",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var r clustersResp
			if err := c.get("/clusters", &r); err != nil {
				return err
			}
			return c.emit(r, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "CLUSTER\tLB\tENDPOINTS\tHEALTHY\tEJECTED\tACTIVE")
				for _, cl := range r.Clusters {
					healthy, ejected := 0, 0
					for _, e := range cl.Endpoints {
						if e.Healthy && !e.Ejected {
							healthy++
						}
						if e.Ejected {
							ejected++
						}
					}
					fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\n", cl.Name, cl.LB, len(cl.Endpoints), healthy, ejected, cl.ActiveRequests)
				}
			})
		},
	}
}

func (c *cli) endpointsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "endpoints [CLUSTER]",
		Short: "List every endpoint: health, ejection, load and success rate",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r clustersResp
			if err := c.get("/clusters", &r); err != nil {
				return err
			}
			if len(args) == 1 {
				kept := r.Clusters[:0]
				for _, cl := range r.Clusters {
					if cl.Name == args[0] {
						kept = append(kept, cl)
					}
				}
				if len(kept) == 0 {
					return fmt.Errorf("no cluster %q", args[0])
				}
				r.Clusters = kept
			}
			return c.emit(r, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "CLUSTER\tENDPOINT\tWEIGHT\tHEALTH\tEJECTED\tACTIVE\tREQUESTS\tSUCCESS\tSOURCE")
				for _, cl := range r.Clusters {
					for _, e := range cl.Endpoints {
						health := "healthy"
						if !e.Healthy {
							health = "unhealthy"
						}
						fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%v\t%d\t%d\t%.1f%%\t%s\n", cl.Name, e.Address, e.Weight, health, e.Ejected, e.ActiveRequests, e.Requests, e.SuccessRate*100, e.Source)
					}
				}
			})
		},
	}
}

func (c *cli) statsCmd() *cobra.Command {
	var filter string
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Print meshd's counters, gauges and latency percentiles",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var r struct {
				Stats []struct {
					Name   string            `json:"name"`
					Labels map[string]string `json:"labels"`
					Value  float64           `json:"value"`
				} `json:"stats"`
			}
			path := "/stats"
			if filter != "" {
				path += "?filter=" + filter
			}
			if err := c.get(path, &r); err != nil {
				return err
			}
			return c.emit(r, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "METRIC\tLABELS\tVALUE")
				for _, s := range r.Stats {
					keys := make([]string, 0, len(s.Labels))
					for k := range s.Labels {
						keys = append(keys, k)
					}
					sort.Strings(keys)
					var ls []string
					for _, k := range keys {
						ls = append(ls, k+"="+s.Labels[k])
					}
					fmt.Fprintf(w, "%s\t%s\t%g\n", s.Name, dash(strings.Join(ls, ",")), s.Value)
				}
			})
		},
	}
	cmd.Flags().StringVar(&filter, "filter", "", "only metrics whose name contains this")
	return cmd
}

func (c *cli) configCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "config",
		Short: "Print the config in force, its version and the last reload error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var dump map[string]any
			if err := c.get("/config_dump", &dump); err != nil {
				return err
			}
			if c.output == "table" || c.output == "" {
				// A config reads best as YAML.
				c.output = "yaml"
			}
			return c.emit(dump, nil)
		},
	}
}

func (c *cli) reloadCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "reload",
		Short: "Ask meshd to reload its config now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.http.Post("http://"+c.admin+"/reload", "", nil)
			if err != nil {
				return fmt.Errorf("cannot reach meshd admin API at %s: %w", c.admin, err)
			}
			defer resp.Body.Close()
			var r map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&r)
			if resp.StatusCode != http.StatusOK {
				fmt.Fprintf(c.out, "reload rejected; the previous config keeps serving:\n%v\n", r["error"])
				return exitError{1}
			}
			fmt.Fprintf(c.out, "reloaded: version %v\n", r["version"])
			return nil
		},
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
