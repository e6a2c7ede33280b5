// Package cniconf parses the files of /etc/cni/net.d: a `.conf`/`.json` single-plugin network
// configuration or a `.conflist` plugin chain. It extracts what network rules need from each
// plugin (bridge, gateway, masquerade, hairpin, MTU, IPAM, flannel's delegate, calico's
// kubeconfig) with the line of each plugin's "type" key, and keeps every plugin's raw JSON.
package cniconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/netsift/netsift/parsers/diag"
)

// Kind is the shape of a file: a single plugin or a plugin list.
type Kind string

const (
	KindConf     Kind = "conf"
	KindConflist Kind = "conflist"
)

// File is one parsed configuration file.
type File struct {
	Name         string         `json:"name"`
	Kind         Kind           `json:"kind"`
	NetworkName  string         `json:"network_name,omitempty"`
	CNIVersion   string         `json:"cni_version,omitempty"`
	DisableCheck *bool          `json:"disable_check,omitempty"`
	Plugins      []Plugin       `json:"plugins"`
	Warnings     []diag.Warning `json:"warnings,omitempty"`
}

// Plugin is one plugin configuration. Pointer fields are nil when the key is absent: absent and
// false differ (bridge's hairpinMode defaults to false, flannel's delegate to true).
type Plugin struct {
	Type         string          `json:"type"`
	TypeLine     int             `json:"type_line,omitempty"`
	Line         int             `json:"line"` // the opening brace of the plugin's object
	Name         string          `json:"name,omitempty"`
	Bridge       string          `json:"bridge,omitempty"`
	IsGateway    *bool           `json:"is_gateway,omitempty"`
	IsDefaultGW  *bool           `json:"is_default_gateway,omitempty"`
	IPMasq       *bool           `json:"ip_masq,omitempty"`
	HairpinMode  *bool           `json:"hairpin_mode,omitempty"`
	PromiscMode  *bool           `json:"promisc_mode,omitempty"`
	ForceAddress *bool           `json:"force_address,omitempty"`
	MTU          *int            `json:"mtu,omitempty"`
	IPAM         *IPAM           `json:"ipam,omitempty"`
	Delegate     *Plugin         `json:"delegate,omitempty"`
	Kubeconfig   string          `json:"kubeconfig,omitempty"` // kubernetes.kubeconfig (calico)
	Capabilities map[string]bool `json:"capabilities,omitempty"`
	Raw          json.RawMessage `json:"raw"`
}

// IPAM is a plugin's "ipam" section (host-local, calico-ipam, ...).
type IPAM struct {
	Type   string    `json:"type,omitempty"`
	Subnet string    `json:"subnet,omitempty"`
	Ranges [][]Range `json:"ranges,omitempty"`
	Routes []Route   `json:"routes,omitempty"`
	// calico-ipam
	IPv4Pools  []string `json:"ipv4_pools,omitempty"`
	IPv6Pools  []string `json:"ipv6_pools,omitempty"`
	AssignIPv4 string   `json:"assign_ipv4,omitempty"`
	AssignIPv6 string   `json:"assign_ipv6,omitempty"`
	Line       int      `json:"line"`
}

// Range is one host-local range.
type Range struct {
	Subnet     string `json:"subnet"`
	RangeStart string `json:"rangeStart,omitempty"`
	RangeEnd   string `json:"rangeEnd,omitempty"`
	Gateway    string `json:"gateway,omitempty"`
}

// Route is one IPAM route.
type Route struct {
	Dst string `json:"dst"`
	GW  string `json:"gw,omitempty"`
}

// Parse reads one file; name (its base name or path) decides how libcni would load it.
// A file that is not valid JSON yields a File with no plugins and a warning at the bad line.
func Parse(name string, r io.Reader) (*File, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	f := &File{Name: name, Kind: KindConf, Plugins: []Plugin{}}
	if path.Ext(name) == ".conflist" {
		f.Kind = KindConflist
	}
	lines := newLineIndex(data)
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		line := 0
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			line = lines.at(int(se.Offset))
		case errors.As(err, &te):
			line = lines.at(int(te.Offset))
		}
		f.Warnings = append(f.Warnings, diag.Warnf(line, "not a JSON object: %v", err))
		return f, nil
	}
	if top == nil {
		f.Warnings = append(f.Warnings, diag.Warnf(0, "not a JSON object: null"))
		return f, nil
	}
	keys := keyLines(data, lines)
	w := &warner{keys: keys}
	w.str(top, "", "name", &f.NetworkName)
	w.str(top, "", "cniVersion", &f.CNIVersion)
	w.boolean(top, "", "disableCheck", &f.DisableCheck)

	ext := path.Ext(name)
	if rawPlugins, ok := top["plugins"]; ok {
		f.Kind = KindConflist
		if ext != ".conflist" {
			w.add(keys["/plugins"], "plugin list in a %q file: libcni expects plugin lists in .conflist files", ext)
		}
		var list []json.RawMessage
		if err := json.Unmarshal(rawPlugins, &list); err != nil {
			w.add(keys["/plugins"], "plugins is not a list: %v", err)
		}
		for i, raw := range list {
			f.Plugins = append(f.Plugins, w.plugin(raw, fmt.Sprintf("/plugins/%d", i)))
		}
		if len(list) == 0 {
			w.add(keys["/plugins"], "empty plugin list")
		}
	} else {
		f.Kind = KindConf
		if ext == ".conflist" {
			w.add(0, "file %s has no plugins list", name)
		}
		p := w.plugin(json.RawMessage(bytes.TrimSpace(data)), "")
		p.Line = lines.at(bytes.IndexByte(data, '{'))
		f.Plugins = append(f.Plugins, p)
	}
	f.Warnings = append(f.Warnings, w.warnings...)
	return f, nil
}

type warner struct {
	keys     map[string]int
	warnings []diag.Warning
}

func (w *warner) add(line int, format string, args ...any) {
	w.warnings = append(w.warnings, diag.Warnf(line, format, args...))
}

func (w *warner) str(m map[string]json.RawMessage, at, key string, dst *string) {
	raw, ok := m[key]
	if !ok {
		return
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		w.add(w.keys[at+"/"+key], "%s: want a string, got %s", key, clipRaw(raw))
	}
}

func (w *warner) boolean(m map[string]json.RawMessage, at, key string, dst **bool) {
	raw, ok := m[key]
	if !ok {
		return
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		w.add(w.keys[at+"/"+key], "%s: want true or false, got %s", key, clipRaw(raw))
		return
	}
	*dst = &b
}

func (w *warner) integer(m map[string]json.RawMessage, at, key string, dst **int) {
	raw, ok := m[key]
	if !ok {
		return
	}
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		w.add(w.keys[at+"/"+key], "%s: want an integer, got %s", key, clipRaw(raw))
		return
	}
	*dst = &n
}

func (w *warner) object(m map[string]json.RawMessage, at, key string) map[string]json.RawMessage {
	raw, ok := m[key]
	if !ok {
		return nil
	}
	var o map[string]json.RawMessage
	if err := json.Unmarshal(raw, &o); err != nil || o == nil {
		w.add(w.keys[at+"/"+key], "%s: want an object, got %s", key, clipRaw(raw))
		return nil
	}
	return o
}

func (w *warner) plugin(raw json.RawMessage, at string) Plugin {
	p := Plugin{Raw: compact(raw), Line: w.keys[at]}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		w.add(w.keys[at], "plugin %s: want an object, got %s", at, clipRaw(raw))
		return p
	}
	w.pluginFields(&p, m, at)
	if p.Type == "" {
		w.add(p.Line, "plugin without a type")
	}
	return p
}

func (w *warner) pluginFields(p *Plugin, m map[string]json.RawMessage, at string) {
	w.str(m, at, "type", &p.Type)
	p.TypeLine = w.keys[at+"/type"]
	w.str(m, at, "name", &p.Name)
	w.str(m, at, "bridge", &p.Bridge)
	w.boolean(m, at, "isGateway", &p.IsGateway)
	w.boolean(m, at, "isDefaultGateway", &p.IsDefaultGW)
	w.boolean(m, at, "ipMasq", &p.IPMasq)
	w.boolean(m, at, "hairpinMode", &p.HairpinMode)
	w.boolean(m, at, "promiscMode", &p.PromiscMode)
	w.boolean(m, at, "forceAddress", &p.ForceAddress)
	w.integer(m, at, "mtu", &p.MTU)
	if k := w.object(m, at, "kubernetes"); k != nil {
		w.str(k, at+"/kubernetes", "kubeconfig", &p.Kubeconfig)
	}
	if c := w.object(m, at, "capabilities"); c != nil {
		p.Capabilities = map[string]bool{}
		for name, raw := range c {
			var b bool
			if json.Unmarshal(raw, &b) == nil {
				p.Capabilities[name] = b
			} else {
				w.add(w.keys[at+"/capabilities/"+escape(name)], "capability %s: want true or false, got %s", name, clipRaw(raw))
			}
		}
	}
	if im := w.object(m, at, "ipam"); im != nil {
		p.IPAM = w.ipam(im, at+"/ipam")
	}
	if d := w.object(m, at, "delegate"); d != nil {
		dp := Plugin{Raw: compact(m["delegate"]), Line: w.keys[at+"/delegate"]}
		w.pluginFields(&dp, d, at+"/delegate")
		p.Delegate = &dp
	}
}

func (w *warner) ipam(m map[string]json.RawMessage, at string) *IPAM {
	ip := &IPAM{Line: w.keys[at]}
	w.str(m, at, "type", &ip.Type)
	w.str(m, at, "subnet", &ip.Subnet)
	w.str(m, at, "assign_ipv4", &ip.AssignIPv4)
	w.str(m, at, "assign_ipv6", &ip.AssignIPv6)
	decode := func(key string, dst any) {
		if raw, ok := m[key]; ok {
			if err := json.Unmarshal(raw, dst); err != nil {
				w.add(w.keys[at+"/"+key], "ipam %s: %v", key, err)
			}
		}
	}
	decode("ranges", &ip.Ranges)
	decode("routes", &ip.Routes)
	decode("ipv4_pools", &ip.IPv4Pools)
	decode("ipv6_pools", &ip.IPv6Pools)
	return ip
}

func compact(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return nil
	}
	return b.Bytes()
}

func clipRaw(raw json.RawMessage) string {
	s := string(raw)
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return s
}

// escape writes a key as a JSON-pointer segment.
func escape(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

type lineIndex []int // byte offsets at which lines start

func newLineIndex(data []byte) lineIndex {
	idx := lineIndex{0}
	for i, c := range data {
		if c == '\n' {
			idx = append(idx, i+1)
		}
	}
	return idx
}

// at returns the 1-based line of byte offset off (0 for a negative offset).
func (l lineIndex) at(off int) int {
	if off < 0 {
		return 0
	}
	return sort.Search(len(l), func(i int) bool { return l[i] > off })
}

// keyLines maps the JSON pointer of every object member ("/plugins/0/type") to the line of its
// key, and of every array element and the root to the line where its value starts.
func keyLines(data []byte, lines lineIndex) map[string]int {
	out := map[string]int{}
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		path    string
		isArray bool
		index   int
		wantKey bool
		key     string
	}
	var stack []*frame
	// valueStart returns the offset of the value that the next token starts.
	skipWS := func(off int) int {
		for off < len(data) && (data[off] == ' ' || data[off] == '\t' || data[off] == '\n' || data[off] == '\r' || data[off] == ',' || data[off] == ':') {
			off++
		}
		return off
	}
	for {
		start := skipWS(int(dec.InputOffset()))
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		var here string // path of the value this token begins, if it begins one
		isValue := true
		if len(stack) > 0 {
			top := stack[len(stack)-1]
			switch {
			case !top.isArray && top.wantKey:
				if d, ok := tok.(json.Delim); ok && d == '}' {
					stack = stack[:len(stack)-1]
					isValue = false
					break
				}
				k, _ := tok.(string)
				top.key = k
				top.wantKey = false
				out[top.path+"/"+escape(k)] = lines.at(start)
				continue
			case !top.isArray:
				here = top.path + "/" + escape(top.key)
				top.wantKey = true
			default:
				if d, ok := tok.(json.Delim); ok && d == ']' {
					stack = stack[:len(stack)-1]
					isValue = false
					break
				}
				here = top.path + "/" + strconv.Itoa(top.index)
				out[here] = lines.at(start)
				top.index++
			}
		} else {
			out[""] = lines.at(start)
		}
		if !isValue {
			continue
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				stack = append(stack, &frame{path: here, wantKey: true})
			case '[':
				stack = append(stack, &frame{path: here, isArray: true})
			}
		}
	}
}

// IsConfigFile reports whether libcni would consider the file at all (the extension match is
// case-sensitive, as in libcni.ConfFiles).
func IsConfigFile(name string) bool {
	switch path.Ext(name) {
	case ".conf", ".conflist", ".json":
		return true
	}
	return false
}

// SelectActive returns the file kubelet and containerd use: the lexically first (by base name)
// `.conf`, `.conflist` or `.json` file; "" when there is none. They skip a file that fails to
// load and take the next, so a rule should check the chosen file parsed with plugins.
func SelectActive(files []string) string {
	var cands []string
	for _, f := range files {
		if IsConfigFile(f) {
			cands = append(cands, f)
		}
	}
	if len(cands) == 0 {
		return ""
	}
	sort.SliceStable(cands, func(i, j int) bool {
		bi, bj := path.Base(cands[i]), path.Base(cands[j])
		if bi != bj {
			return bi < bj
		}
		return cands[i] < cands[j]
	})
	return cands[0]
}
