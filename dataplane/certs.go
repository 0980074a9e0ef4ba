package dataplane

import (
	"net/http"
	"os"
	"time"

	"github.com/wasmesh/wasmesh/identity"
)

// certList describes every certificate the config in force uses: each TLS
// listener's (server) and its client CA bundle, each TLS cluster's client
// certificate and CA bundle. Files are read now, so a rotation on disk
// shows at once.
func (s *Server) certList() []identity.CertInfo {
	sn := s.snap.Load()
	if sn == nil {
		return nil
	}
	now := time.Now()
	var out []identity.CertInfo
	add := func(name, role, file string) {
		if file == "" {
			return
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return
		}
		infos, err := identity.DescribePEM(name, b, now, identity.DefaultWarnBefore)
		if err != nil {
			return
		}
		for i := range infos {
			infos[i].File = file
			if role != "" && !(role == "ca" && !infos[i].IsCA) {
				infos[i].Role = role
			}
		}
		out = append(out, infos...)
	}
	seen := map[string]bool{}
	once := func(name, role, file string) {
		if seen[name+file] {
			return
		}
		seen[name+file] = true
		add(name, role, file)
	}
	for _, l := range sn.cfg.Listeners {
		if t := l.TLS; t != nil {
			once("listener/"+l.Name, "server", t.CertFile)
			once("listener/"+l.Name, "ca", t.ClientCAFile)
		}
	}
	for _, c := range sn.cfg.Clusters {
		if t := c.TLS; t != nil {
			once("cluster/"+c.Name, "client", t.CertFile)
			once("cluster/"+c.Name, "ca", t.CAFile)
		}
	}
	return out
}

// adminCerts is GET /certs: the identity, issuer and expiry in force.
func (s *Server) adminCerts(w http.ResponseWriter, _ *http.Request) {
	resp := identity.CertsResponse{Certificates: s.certList()}
	if sn := s.snap.Load(); sn != nil && sn.cfg.Mesh != nil {
		resp.TrustDomain = sn.cfg.Mesh.TrustDomain
		resp.MTLS = identity.MTLSMode(sn.cfg.Mesh.MTLS)
	}
	if resp.Certificates == nil {
		resp.Certificates = []identity.CertInfo{}
	}
	writeJSON(w, http.StatusOK, resp)
}
