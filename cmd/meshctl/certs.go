package main

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wasmesh/wasmesh/identity"
	"github.com/wasmesh/wasmesh/internal/certgen"
)

// certsCmd is `meshctl certs`: the certificates a running meshd has in
// force, and the init and show subcommands that work on files.
func (c *cli) certsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Show the certificates meshd has in force: identity, issuer, expiry",
		Long: "Without a subcommand, lists the certificates of a running meshd (GET /certs on its admin API):\n" +
			"each listener's and cluster's certificate and the trust bundle, with SPIFFE ID, issuer and expiry.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var r identity.CertsResponse
			if err := c.get("/certs", &r); err != nil {
				return err
			}
			if err := c.emit(r, func(w *tabwriter.Writer) {
				if r.TrustDomain != "" || r.MTLS != "" {
					fmt.Fprintf(w, "trust domain: %s\tmtls: %s\n\n", dash(r.TrustDomain), dash(string(r.MTLS)))
				}
				certTable(w, r.Certificates, false)
			}); err != nil {
				return err
			}
			c.warnExpiry(r.Certificates)
			return nil
		},
	}
	cmd.AddCommand(c.certsInitCmd(), c.certsShowCmd())
	return cmd
}

func certTable(w *tabwriter.Writer, cs []identity.CertInfo, files bool) {
	head := "NAME"
	if files {
		head = "FILE"
	}
	fmt.Fprintf(w, "%s\tROLE\tIDENTITY\tISSUER\tNOT AFTER\tEXPIRES IN\tSTATUS\n", head)
	for _, ci := range cs {
		who := ci.SPIFFEID
		if who == "" {
			who = ci.Subject
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ci.Name, ci.Role, dash(who), ci.Issuer,
			ci.NotAfter.UTC().Format(time.RFC3339), human(time.Duration(ci.ExpiresInSeconds)*time.Second), ci.Status)
	}
}

// warnExpiry prints a warning for every certificate that is expiring or
// expired, on stderr so that -o json stays parseable.
func (c *cli) warnExpiry(cs []identity.CertInfo) {
	for _, ci := range cs {
		who := ci.SPIFFEID
		if who == "" {
			who = ci.Subject
		}
		switch ci.Status {
		case identity.StatusExpiring:
			fmt.Fprintf(c.errOut, "warning: %s (%s) expires in %s, at %s: renew it\n", ci.Name, who, human(time.Duration(ci.ExpiresInSeconds)*time.Second), ci.NotAfter.Format(time.RFC3339))
		case identity.StatusExpired:
			fmt.Fprintf(c.errOut, "warning: %s (%s) EXPIRED at %s\n", ci.Name, who, ci.NotAfter.Format(time.RFC3339))
		case identity.StatusNotYetValid:
			fmt.Fprintf(c.errOut, "warning: %s (%s) is not valid before %s (clock skew?)\n", ci.Name, who, ci.NotBefore.Format(time.RFC3339))
		}
	}
}

// human prints a duration in its largest sensible unit: 89d, 5h12m, 42s.
func human(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d >= 48*time.Hour:
		s = fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	case d >= time.Hour:
		s = fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	case d >= time.Minute:
		s = fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	default:
		s = fmt.Sprintf("%ds", int(d/time.Second))
	}
	if neg {
		return "-" + s
	}
	return s
}

func (c *cli) certsShowCmd() *cobra.Command {
	var warnBefore time.Duration
	cmd := &cobra.Command{
		Use:   "show FILE...",
		Short: "Print the identity, issuer and expiry of PEM certificate files; warn near expiry",
		Long: "Prints every certificate in each file (a leaf and its chain, or a CA bundle). Exits 1 when a\n" +
			"certificate has expired. --warn-before sets the warning window; by default it is 7 days, or a\n" +
			"quarter of the certificate's lifetime when that is shorter.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			var all []identity.CertInfo
			for _, f := range args {
				b, err := os.ReadFile(f)
				if err != nil {
					return fmt.Errorf("certs show: %w", err)
				}
				cs, err := identity.DescribePEM(f, b, now, warnBefore)
				if err != nil {
					return fmt.Errorf("certs show: %w", err)
				}
				for i := range cs {
					cs[i].File = f
				}
				all = append(all, cs...)
			}
			if err := c.emit(map[string]any{"certificates": all}, func(w *tabwriter.Writer) { certTable(w, all, true) }); err != nil {
				return err
			}
			c.warnExpiry(all)
			for _, ci := range all {
				if ci.Status == identity.StatusExpired {
					return exitError{1}
				}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&warnBefore, "warn-before", 0, "warn when a certificate expires within this (default: 7d, or a quarter of its lifetime)")
	return cmd
}

func (c *cli) certsInitCmd() *cobra.Command {
	var (
		dir, trustDomain, namespace string
		services                    []string
		validity, caValidity        time.Duration
	)
	cmd := &cobra.Command{
		Use:   "init --dir DIR --trust-domain TD --service NAME[,NAME...]",
		Short: "Make a development CA and a certificate per service with its SPIFFE ID",
		Long: "Writes, in the layout cert-manager writes:\n" +
			"  DIR/ca/tls.crt, DIR/ca/tls.key     the CA (reused when it exists, so services can be added later)\n" +
			"  DIR/NAME/tls.crt, tls.key, ca.crt  per service: a certificate for spiffe://TD/ns/NS/sa/NAME\n" +
			"A service may be written NS/NAME to override --namespace. Running it again re-issues (rotates)\n" +
			"the service certificates under the same CA; meshd picks rotated files up without a restart.\n" +
			"For development and tests only: the CA key sits on disk unencrypted.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" || len(services) == 0 {
				return errors.New("certs init: --dir and --service are required")
			}
			if !identity.ValidTrustDomain(trustDomain) {
				return fmt.Errorf("certs init: trust domain %q: use lower-case letters, digits, dots and dashes (e.g. example.org)", trustDomain)
			}
			ca, created, err := loadOrMakeCA(filepath.Join(dir, "ca"), trustDomain, caValidity)
			if err != nil {
				return err
			}
			type row struct {
				Service  string `json:"service"`
				SPIFFEID string `json:"spiffe_id"`
				Dir      string `json:"dir"`
				NotAfter string `json:"not_after"`
			}
			var rows []row
			seen := map[string]string{}
			for _, s := range services {
				ns, name := namespace, s
				if i := strings.IndexByte(s, '/'); i >= 0 {
					ns, name = s[:i], s[i+1:]
				}
				if name == "" || ns == "" || strings.ContainsAny(name, "/ ") || name == "ca" {
					return fmt.Errorf("certs init: bad service name %q", s)
				}
				if prev, dup := seen[name]; dup {
					return fmt.Errorf("certs init: %q and %q would share the folder %s", prev, s, filepath.Join(dir, name))
				}
				seen[name] = s
				id := identity.NewID(trustDomain, ns, name)
				leaf, err := ca.Issue(certgen.Options{
					CommonName: name, SPIFFEID: id.String(), Validity: validity,
					DNSNames: []string{name, name + "." + ns, name + "." + ns + ".svc", name + "." + ns + ".svc.cluster.local", "localhost"},
					IPs:      []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
				})
				if err != nil {
					return fmt.Errorf("certs init: %s: %w", s, err)
				}
				sd := filepath.Join(dir, name)
				if err := os.MkdirAll(sd, 0o755); err != nil {
					return fmt.Errorf("certs init: %w", err)
				}
				if _, err := ca.WriteCA(sd, "ca"); err != nil {
					return err
				}
				if _, _, err := leaf.Write(sd, "tls"); err != nil {
					return err
				}
				rows = append(rows, row{name, id.String(), sd, leaf.Cert.NotAfter.UTC().Format(time.RFC3339)})
			}
			verb := "reused"
			if created {
				verb = "created"
			}
			return c.emit(map[string]any{"ca": filepath.Join(dir, "ca"), "ca_created": created, "services": rows}, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "CA %s in %s (trust domain %s)\n\n", verb, filepath.Join(dir, "ca"), trustDomain)
				fmt.Fprintln(w, "SERVICE\tSPIFFE ID\tFILES\tNOT AFTER")
				for _, r := range rows {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.Service, r.SPIFFEID, filepath.Join(r.Dir, "{tls.crt,tls.key,ca.crt}"), r.NotAfter)
				}
			})
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory to write into")
	cmd.Flags().StringVar(&trustDomain, "trust-domain", "cluster.local", "SPIFFE trust domain")
	cmd.Flags().StringVar(&namespace, "namespace", "default", "namespace in the SPIFFE IDs (spiffe://TD/ns/NS/sa/NAME)")
	cmd.Flags().StringSliceVar(&services, "service", nil, "service names, comma-separated or repeated (NAME or NS/NAME)")
	cmd.Flags().DurationVar(&validity, "validity", 30*24*time.Hour, "service certificate lifetime")
	cmd.Flags().DurationVar(&caValidity, "ca-validity", 365*24*time.Hour, "CA lifetime (when a new CA is made)")
	return cmd
}

// loadOrMakeCA reads the CA in dir (tls.crt, tls.key) or makes one there.
func loadOrMakeCA(dir, trustDomain string, validity time.Duration) (*certgen.CA, bool, error) {
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if _, err := os.Stat(certFile); err == nil {
		kp, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, false, fmt.Errorf("certs init: existing CA in %s: %w", dir, err)
		}
		cert, err := x509.ParseCertificate(kp.Certificate[0])
		if err != nil {
			return nil, false, fmt.Errorf("certs init: existing CA in %s: %w", dir, err)
		}
		key, ok := kp.PrivateKey.(*ecdsa.PrivateKey)
		if !ok || !cert.IsCA {
			return nil, false, fmt.Errorf("certs init: %s does not hold an ECDSA CA made by meshctl", dir)
		}
		return &certgen.CA{Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})}, false, nil
	}
	ca, err := certgen.NewCA("wasmesh dev CA "+trustDomain, validity)
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("certs init: %w", err)
	}
	kd, err := x509.MarshalECPrivateKey(ca.Key)
	if err != nil {
		return nil, false, fmt.Errorf("certs init: %w", err)
	}
	// The key first: a crash between the two leaves no CA that cannot sign.
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		return nil, false, fmt.Errorf("certs init: %w", err)
	}
	if _, err := ca.WriteCA(dir, "tls"); err != nil {
		return nil, false, err
	}
	if _, err := ca.WriteCA(dir, "ca"); err != nil {
		return nil, false, err
	}
	return ca, true, nil
}
