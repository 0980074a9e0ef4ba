package ratelimit

import (
	"encoding/json"
	"hash/fnv"
	"strconv"
	"strings"

	sdk "github.com/wasmesh/wasmesh/wasm-sdk"
)

// New makes the filter's root context: the factory for sdk.SetNewPlugin.
func New(uint32) sdk.Plugin { return &plugin{} }

const (
	redisFunc = "wasmesh.redis_ratelimit"
	probes    = 8
	casTries  = 1000
)

type plugin struct {
	cfg                                              *config
	prefix                                           string
	allowed, limited, shadowed, globalErr, tableFull sdk.Metric
}

func (p *plugin) OnConfigure(b []byte) error {
	cfg, err := parseConfig(b)
	if err != nil {
		return err
	}
	p.cfg = cfg
	h := fnv.New32a()
	h.Write(b)
	p.prefix = "rl:" + strconv.FormatUint(uint64(h.Sum32()), 16) + ":"
	p.allowed = sdk.DefineCounter("rate_limit.allowed")
	p.limited = sdk.DefineCounter("rate_limit.limited")
	p.shadowed = sdk.DefineCounter("rate_limit.shadow_limited")
	p.globalErr = sdk.DefineCounter("rate_limit.global_errors")
	p.tableFull = sdk.DefineCounter("rate_limit.table_full")
	if cfg.Local != nil {
		// Create every slot once (VMs start one after another; a slot that
		// exists is left alone, so a reload keeps the buckets).
		free := slot{}.encode()
		for i := 0; i < cfg.MaxKeys; i++ {
			name := slotName(p.prefix, i)
			if _, _, err := sdk.SharedData(name); err == sdk.ErrNotFound {
				if err := sdk.SetSharedData(name, free, 0); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (p *plugin) NewHTTPFilter(uint32) sdk.HTTPFilter { return &filter{p: p} }

type filter struct {
	sdk.DefaultHTTPFilter
	p                       *plugin
	limit, remaining, reset int64
	decided                 bool
}

func (f *filter) key() string {
	var b strings.Builder
	for i, part := range f.p.cfg.Key {
		if i > 0 {
			b.WriteByte(0x1f)
		}
		switch {
		case part == "path":
			v, _ := sdk.RequestHeader(":path")
			if i := strings.IndexByte(v, '?'); i >= 0 {
				v = v[:i]
			}
			b.WriteString(v)
		case part == "method":
			v, _ := sdk.RequestHeader(":method")
			b.WriteString(v)
		case part == "source_ip":
			v, _ := sdk.Property("source", "address")
			b.WriteString(hostOf(string(v)))
		case part == "jwt_subject":
			v, _ := sdk.RequestHeader(f.p.cfg.JWTSubjectHeader)
			b.WriteString(v)
		case part == "route":
			v, _ := sdk.Property("route_name")
			b.Write(v)
		default: // header:NAME
			v, _ := sdk.RequestHeader(strings.ToLower(part[len("header:"):]))
			b.WriteString(v)
		}
	}
	return b.String()
}

// take removes one token from key's bucket. ok is false if the table has no
// slot for the key (it then admits).
func (p *plugin) take(key string) (allowed bool, remaining, reset int64, ok bool) {
	l := p.cfg.Local
	h := hashKey(key)
	start := int(h % uint64(p.cfg.MaxKeys))
	for probe := 0; probe < probes; probe++ {
		name := slotName(p.prefix, (start+probe)%p.cfg.MaxKeys)
		for try := 0; try < casTries; try++ {
			b, cas, err := sdk.SharedData(name)
			if err != nil {
				break
			}
			s, valid := decodeSlot(b)
			if !valid {
				break
			}
			now := sdk.Now().UnixNano()
			if s.hash != h {
				if s.hash != 0 && !s.full(now, l) {
					break // another client's active bucket: next slot
				}
				s = slot{hash: h, tokens: l.Burst * 1000, last: now}
			} else {
				s.refill(now, l)
			}
			allowed = s.tokens >= 1000
			if allowed {
				s.tokens -= 1000
			}
			if sdk.SetSharedData(name, s.encode(), cas) != nil {
				continue // another VM wrote first: read again
			}
			// seconds until the bucket is full again
			missing := l.Burst*1000 - s.tokens
			reset = (missing*l.PerSeconds*1000000/l.Requests + 999999999) / 1000000000
			return allowed, s.tokens / 1000, reset, true
		}
	}
	return true, 0, 0, false
}

type globalReply struct {
	Count int64 `json:"count"`
	TTL   int64 `json:"ttl"`
}

func (p *plugin) global(key string) (allowed bool, remaining, reset int64, ok bool) {
	g := p.cfg.Global
	args, _ := json.Marshal(map[string]any{
		"key":            g.Prefix + strconv.FormatUint(hashKey(key), 16),
		"window_seconds": g.WindowSeconds,
	})
	out, err := sdk.CallForeignFunction(redisFunc, args)
	if err != nil {
		return true, 0, 0, false
	}
	var r globalReply
	if json.Unmarshal(out, &r) != nil {
		return true, 0, 0, false
	}
	rem := g.Requests - r.Count
	if rem < 0 {
		rem = 0
	}
	return r.Count <= g.Requests, rem, r.TTL, true
}

func (f *filter) OnRequestHeaders(int, bool) sdk.Action {
	p := f.p
	key := f.key()
	allowed, byLocal := true, false
	if l := p.cfg.Local; l != nil {
		a, rem, reset, ok := p.take(key)
		if !ok {
			p.tableFull.Increment(1)
		} else {
			allowed, byLocal = a, !a
			f.limit, f.remaining, f.reset, f.decided = l.Burst, rem, reset, true
		}
	}
	if g := p.cfg.Global; g != nil && allowed {
		a, rem, reset, ok := p.global(key)
		if !ok {
			p.globalErr.Increment(1)
		} else {
			allowed = a
			if !f.decided || rem < f.remaining {
				f.limit, f.remaining, f.reset, f.decided = g.Requests, rem, reset, true
			}
		}
	}
	if allowed {
		p.allowed.Increment(1)
		return sdk.Continue
	}
	if p.cfg.Shadow {
		p.shadowed.Increment(1)
		sdk.Infof("rate-limit (shadow): would refuse key %q", key)
		return sdk.Continue
	}
	p.limited.Increment(1)
	retry := f.reset
	if l := p.cfg.Local; byLocal {
		retry = (l.PerSeconds*1000000000/l.Requests + 999999999) / 1000000000 // one token
	}
	if retry < 1 {
		retry = 1
	}
	hdrs := append(f.headers(), [2]string{"retry-after", strconv.FormatInt(retry, 10)},
		[2]string{"content-type", "text/plain; charset=utf-8"})
	sdk.SendLocalResponse(429, hdrs, []byte("429 Too Many Requests\n"))
	return sdk.Pause
}

func (f *filter) headers() [][2]string {
	return [][2]string{
		{"x-ratelimit-limit", strconv.FormatInt(f.limit, 10)},
		{"x-ratelimit-remaining", strconv.FormatInt(f.remaining, 10)},
		{"x-ratelimit-reset", strconv.FormatInt(f.reset, 10)},
	}
}

func (f *filter) OnResponseHeaders(int, bool) sdk.Action {
	if f.decided && !f.p.cfg.Shadow {
		for _, h := range f.headers() {
			sdk.SetResponseHeader(h[0], h[1])
		}
	}
	return sdk.Continue
}

// hostOf strips the port from "ip:port" or "[ipv6]:port".
func hostOf(addr string) string {
	if strings.HasPrefix(addr, "[") {
		if i := strings.IndexByte(addr, ']'); i > 0 {
			return addr[1:i]
		}
		return addr
	}
	if i := strings.LastIndexByte(addr, ':'); i >= 0 && strings.Count(addr, ":") == 1 {
		return addr[:i]
	}
	return addr
}
