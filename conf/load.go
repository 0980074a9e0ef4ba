package conf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Problem is one thing wrong with a config: where, what, and what to do.
// meshctl validate prints every Problem; meshd refuses to start on any.
type Problem struct {
	File  string `json:"file,omitempty"`
	Line  int    `json:"line,omitempty"`
	Field string `json:"field"`
	Msg   string `json:"message"`
	Hint  string `json:"hint,omitempty"`
}

// String is the one-line form meshctl validate and meshd print.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	if p.Hint != "" {
		b.WriteString(" (")
		b.WriteString(p.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// Problems is the error type of Load and Validate, so a caller can list
// every problem instead of stopping at the first.
type Problems []Problem

// Error lists every problem, one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// AsProblems extracts Problems from an error returned by this package.
func AsProblems(err error) (Problems, bool) {
	var ps Problems
	ok := errors.As(err, &ps)
	return ps, ok
}

// Source is what was loaded: the merged config plus where each field came
// from, so later validation can point at a file and line.
type Source struct {
	Files  []string
	Config *Config
	pos    map[string]position
}

type position struct {
	file string
	line int
}

// OverlayPath returns the overlay file for env beside base:
// demo.yaml + prod → demo.prod.yaml.
func OverlayPath(base, env string) string {
	ext := filepath.Ext(base)
	return strings.TrimSuffix(base, ext) + "." + env + ext
}

// Load reads base and, when env is not empty, its overlay; merges them
// (maps deeply, lists of named items by name); decodes strictly; and
// validates. The error is Problems when the config itself is at fault.
func Load(base, env string) (*Source, error) {
	files := []string{base}
	if env != "" {
		ov := OverlayPath(base, env)
		if _, err := os.Stat(ov); err != nil {
			return nil, fmt.Errorf("environment %q: overlay %s: %w", env, ov, err)
		}
		files = append(files, ov)
	}
	datas := make([][]byte, len(files))
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		datas[i] = b
	}
	return LoadBytes(files, datas)
}

// LoadBytes is Load for configs held in memory (tests, meshtest, the admin
// API). names label the documents in messages.
func LoadBytes(names []string, datas [][]byte) (*Source, error) {
	src := &Source{Files: names, pos: map[string]position{}}
	var merged any
	var probs Problems
	for i, data := range datas {
		tree, ps := parseTree(names[i], data, src.pos)
		probs = append(probs, ps...)
		if i == 0 {
			merged = tree
		} else {
			merged = mergeTree(merged, tree)
		}
	}
	cfg, err := decodeTree(merged)
	if err != nil {
		return nil, append(probs, Problem{File: names[0], Msg: err.Error()})
	}
	src.Config = cfg
	// Validate even when decoding found problems, so one run lists them all.
	probs = append(probs, src.validate()...)
	if len(probs) > 0 {
		return src, probs
	}
	return src, nil
}

func decodeTree(tree any) (*Config, error) {
	if tree == nil {
		tree = map[string]any{}
	}
	b, err := json.Marshal(tree)
	if err != nil {
		return nil, fmt.Errorf("encode merged config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("decode merged config: %w", err)
	}
	return &cfg, nil
}

func parseTree(name string, data []byte, pos map[string]position) (any, Problems) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, Problems{{File: name, Msg: "not valid YAML: " + strings.TrimSpace(err.Error())}}
	}
	if len(f.Docs) == 0 || f.Docs[0].Body == nil {
		return map[string]any{}, nil
	}
	if len(f.Docs) > 1 {
		return nil, Problems{{File: name, Msg: "more than one YAML document", Hint: "keep one document per file; use an overlay file for environment differences"}}
	}
	w := &walker{file: name, pos: pos}
	v := w.walk(f.Docs[0].Body, reflect.TypeOf(Config{}), "")
	return v, w.probs
}

type walker struct {
	file  string
	pos   map[string]position
	probs Problems
}

func (w *walker) add(n ast.Node, field, msg, hint string) {
	w.probs = append(w.probs, Problem{File: w.file, Line: line(n), Field: field, Msg: msg, Hint: hint})
}

func line(n ast.Node) int {
	if n == nil || n.GetToken() == nil {
		return 0
	}
	return n.GetToken().Position.Line
}

var durationType = reflect.TypeOf(Duration(0))

func unwrap(n ast.Node) ast.Node {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		case *ast.CommentGroupNode:
			return nil
		default:
			return n
		}
	}
}

func mappingValues(n ast.Node) ([]*ast.MappingValueNode, bool) {
	switch v := n.(type) {
	case *ast.MappingNode:
		return v.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{v}, true
	}
	return nil, false
}

func keyString(k ast.MapKeyNode) string {
	switch v := k.(type) {
	case *ast.StringNode:
		return v.Value
	}
	return strings.TrimSpace(k.String())
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// walk converts n into a plain tree checked against type t, recording the
// line of every field it visits and a Problem for anything that does not fit.
func (w *walker) walk(n ast.Node, t reflect.Type, path string) any {
	n = unwrap(n)
	if n == nil {
		return nil
	}
	if _, ok := n.(*ast.NullNode); ok {
		return nil
	}
	if _, ok := n.(*ast.AliasNode); ok {
		w.add(n, path, "YAML aliases are not supported", "repeat the value, or use an overlay file")
		return nil
	}
	w.pos[path] = position{w.file, line(n)}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		s, ok := scalarString(n)
		if !ok {
			w.add(n, path, "expected a duration", "write it like 250ms, 2s or 1m")
			return nil
		}
		if _, err := ParseDuration(s); err != nil {
			w.add(n, path, err.Error(), "")
			return nil
		}
		return s
	}
	switch t.Kind() {
	case reflect.Struct:
		vals, ok := mappingValues(n)
		if !ok {
			w.add(n, path, "expected a mapping of fields", "allowed fields: "+strings.Join(fieldNames(t), ", "))
			return nil
		}
		out := map[string]any{}
		for _, mv := range vals {
			k := keyString(mv.Key)
			f, ok := fieldByTag(t, k)
			if !ok {
				hint := "allowed here: " + strings.Join(fieldNames(t), ", ")
				if s := Suggest(k, fieldNames(t)); s != "" {
					hint = fmt.Sprintf("did you mean %q?", s)
				}
				w.add(mv.Key, join(path, k), fmt.Sprintf("unknown field %q", k), hint)
				continue
			}
			w.pos[join(path, k)] = position{w.file, line(mv.Key)}
			out[k] = w.walk(mv.Value, f.Type, join(path, k))
		}
		return out
	case reflect.Map:
		vals, ok := mappingValues(n)
		if !ok {
			if t.Elem().Kind() == reflect.Interface {
				w.add(n, path, "expected a mapping", "")
				return nil
			}
			w.add(n, path, "expected a mapping of name: value", "")
			return nil
		}
		out := map[string]any{}
		for _, mv := range vals {
			k := keyString(mv.Key)
			p := path + "." + k
			w.pos[p] = position{w.file, line(mv.Key)}
			out[k] = w.walk(mv.Value, t.Elem(), p)
		}
		return out
	case reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			w.add(n, path, "expected a list", "write it as [a, b] or one '- item' per line")
			return nil
		}
		out := make([]any, 0, len(seq.Values))
		for i, v := range seq.Values {
			p := fmt.Sprintf("%s[%s]", path, itemKey(v, i))
			out = append(out, w.walk(v, t.Elem(), p))
		}
		return out
	case reflect.Interface:
		return plain(n)
	case reflect.String:
		s, ok := scalarString(n)
		if !ok {
			w.add(n, path, "expected a string", "")
			return nil
		}
		return s
	case reflect.Bool:
		b, ok := n.(*ast.BoolNode)
		if !ok {
			w.add(n, path, fmt.Sprintf("expected true or false, got %s", strings.TrimSpace(n.String())), "")
			return nil
		}
		return b.Value
	case reflect.Int, reflect.Int64, reflect.Int32:
		s, _ := scalarString(n)
		v, err := strconv.ParseInt(s, 10, 64)
		if _, isInt := n.(*ast.IntegerNode); !isInt || err != nil {
			w.add(n, path, fmt.Sprintf("expected a whole number, got %q", strings.TrimSpace(n.String())), "")
			return nil
		}
		return v
	case reflect.Float64, reflect.Float32:
		s, _ := scalarString(n)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			w.add(n, path, fmt.Sprintf("expected a number, got %q", strings.TrimSpace(n.String())), "")
			return nil
		}
		return v
	}
	w.add(n, path, "unsupported value", "")
	return nil
}

// itemKey names a list item by its name field when it has one, so paths
// stay stable across overlays that reorder nothing but add items.
func itemKey(n ast.Node, i int) string {
	if vals, ok := mappingValues(unwrap(n)); ok {
		for _, mv := range vals {
			if keyString(mv.Key) == "name" {
				if s, ok := scalarString(unwrap(mv.Value)); ok && s != "" {
					return s
				}
			}
		}
	}
	return strconv.Itoa(i)
}

func scalarString(n ast.Node) (string, bool) {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		return v.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return strings.TrimSpace(n.GetToken().Value), true
	}
	return "", false
}

func plain(n ast.Node) any {
	n = unwrap(n)
	switch v := n.(type) {
	case nil, *ast.NullNode:
		return nil
	case *ast.StringNode:
		return v.Value
	case *ast.LiteralNode:
		return v.Value.Value
	case *ast.IntegerNode:
		return v.Value
	case *ast.FloatNode:
		return v.Value
	case *ast.BoolNode:
		return v.Value
	case *ast.SequenceNode:
		out := make([]any, 0, len(v.Values))
		for _, e := range v.Values {
			out = append(out, plain(e))
		}
		return out
	}
	if vals, ok := mappingValues(n); ok {
		out := map[string]any{}
		for _, mv := range vals {
			out[keyString(mv.Key)] = plain(mv.Value)
		}
		return out
	}
	return strings.TrimSpace(n.String())
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if tagName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func tagName(f reflect.StructField) string {
	tag := f.Tag.Get("yaml")
	name, _, _ := strings.Cut(tag, ",")
	return name
}

func fieldNames(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if n := tagName(t.Field(i)); n != "" && n != "-" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// mergeTree lays over on top of base: maps merge key by key, lists whose
// items all have a name merge item by item, anything else is replaced.
func mergeTree(base, over any) any {
	switch o := over.(type) {
	case map[string]any:
		b, ok := base.(map[string]any)
		if !ok {
			return o
		}
		out := make(map[string]any, len(b)+len(o))
		for k, v := range b {
			out[k] = v
		}
		for k, v := range o {
			out[k] = mergeTree(b[k], v)
		}
		return out
	case []any:
		b, ok := base.([]any)
		if !ok || !allNamed(b) || !allNamed(o) {
			return o
		}
		out := append([]any(nil), b...)
		idx := map[string]int{}
		for i, v := range out {
			idx[v.(map[string]any)["name"].(string)] = i
		}
		for _, v := range o {
			name := v.(map[string]any)["name"].(string)
			if i, ok := idx[name]; ok {
				out[i] = mergeTree(out[i], v)
			} else {
				out = append(out, v)
			}
		}
		return out
	}
	return over
}

func allNamed(l []any) bool {
	for _, v := range l {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if s, ok := m["name"].(string); !ok || s == "" {
			return false
		}
	}
	return true
}

// Suggest returns the candidate closest to s when it is close enough to be
// a likely typo, for "did you mean" hints.
func Suggest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := levenshtein(strings.ToLower(s), strings.ToLower(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := len(s) / 3
	if limit < 2 {
		limit = 2
	}
	if bestD <= limit || (best != "" && (strings.Contains(best, s) || strings.Contains(s, best)) && len(s) > 2) {
		return best
	}
	return ""
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
