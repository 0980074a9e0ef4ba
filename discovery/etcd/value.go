package etcd

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/wasmesh/wasmesh/discovery"
)

// value is the stored JSON. Op, Addr and Metadata are the fields of etcd's
// naming/endpoints internal.Update, which gRPC's etcd resolver decodes;
// our instance data rides in Metadata.
type value struct {
	Op       uint8     `json:"Op"`
	Addr     string    `json:"Addr"`
	Metadata *metadata `json:"Metadata,omitempty"`
}

type metadata struct {
	Service  string            `json:"service,omitempty"`
	ID       string            `json:"id,omitempty"`
	Version  string            `json:"version,omitempty"`
	Tags     []string          `json:"tags,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	CheckURL string            `json:"check_http,omitempty"`
	Interval string            `json:"check_interval,omitempty"`
}

func encode(inst discovery.Instance) (string, error) {
	m := &metadata{
		Service: inst.Service, ID: inst.ID, Version: inst.Version,
		Tags: inst.Tags, Metadata: inst.Metadata, CheckURL: inst.Check.HTTP,
	}
	if inst.Check.Interval > 0 {
		m.Interval = inst.Check.Interval.String()
	}
	b, err := json.Marshal(value{Op: 0, Addr: inst.HostPort(), Metadata: m})
	if err != nil {
		return "", fmt.Errorf("encode instance %s: %w", inst.ID, err)
	}
	return string(b), nil
}

// decode reads a value written by this package or by naming/endpoints
// (whose Metadata may be anything: it is then ignored). The id is the last
// key segment.
func decode(service, key string, raw []byte) (discovery.Instance, error) {
	var v struct {
		Op       uint8           `json:"Op"`
		Addr     string          `json:"Addr"`
		Metadata json.RawMessage `json:"Metadata"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return discovery.Instance{}, fmt.Errorf("key %s: %w", key, err)
	}
	host, portStr, err := net.SplitHostPort(v.Addr)
	if err != nil {
		return discovery.Instance{}, fmt.Errorf("key %s: address %q: %w", key, v.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return discovery.Instance{}, fmt.Errorf("key %s: port %q: %w", key, portStr, err)
	}
	inst := discovery.Instance{
		Service: service, ID: key[strings.LastIndex(key, "/")+1:],
		Address: host, Port: port, Source: Name,
	}
	var m metadata
	if len(v.Metadata) > 0 && json.Unmarshal(v.Metadata, &m) == nil {
		inst.Version, inst.Tags, inst.Metadata = m.Version, m.Tags, m.Metadata
		inst.Check.HTTP = m.CheckURL
		if d, err := time.ParseDuration(m.Interval); err == nil {
			inst.Check.Interval = d
		}
	}
	return inst, nil
}
