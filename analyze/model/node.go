package model

import (
	"bytes"
	"io"
	"path"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/parsers/cniconf"
	"github.com/netsift/netsift/parsers/conntrack"
	"github.com/netsift/netsift/parsers/diag"
	"github.com/netsift/netsift/parsers/hairpin"
	"github.com/netsift/netsift/parsers/iproute"
	"github.com/netsift/netsift/parsers/ipset"
	"github.com/netsift/netsift/parsers/iptables"
	"github.com/netsift/netsift/parsers/ipvsadm"
	"github.com/netsift/netsift/parsers/kubelet"
	"github.com/netsift/netsift/parsers/lsmod"
	"github.com/netsift/netsift/parsers/resolvconf"
	"github.com/netsift/netsift/parsers/selinux"
	"github.com/netsift/netsift/parsers/sysctl"
)

// Capture names: the files the collector writes under nodes/<node>/ (collect/FORMAT.md). This
// table is the one place that knows them, so a second bundle layout is a second table.
const (
	CapIPTables       = "iptables-save.txt"
	CapIPTablesLegacy = "iptables-legacy-save.txt"
	CapIPTablesNFT    = "iptables-nft-save.txt"
	CapIP6Tables      = "ip6tables-save.txt"
	CapIPVS           = "ipvsadm.txt"
	CapIPSet          = "ipset.txt"
	CapAddr           = "ip-addr"  // .json preferred, .txt accepted
	CapLink           = "ip-link"  // .json preferred, .txt accepted
	CapRoute          = "ip-route" // .json preferred, .txt accepted
	CapRule           = "ip-rule"  // .json preferred, .txt accepted
	CapNeigh          = "ip-neigh.txt"
	CapFDB            = "bridge-fdb.txt"
	CapSysctl         = "sysctl.txt"
	CapConntrack      = "conntrack-stats.txt"
	CapLsmod          = "lsmod.txt"
	CapCNIDir         = "cni"
	CapResolvConf     = "resolv.conf"
	CapKubeletConfig  = "kubelet-config.yaml"
	CapKubeletCmdline = "kubelet-cmdline.txt"
	CapHairpin        = "hairpin.txt"
	CapSELinux        = "selinux.txt"
	CapDmesg          = "dmesg.txt"
	CapKubeletLog     = "kubelet.log"
)

// CNIConfig is one file of the node's /etc/cni/net.d.
type CNIConfig struct {
	Path string // bundle path
	*cniconf.File
}

// NodeData is one node's captured dataplane and configuration, parsed. A nil field means the
// capture is absent, failed or unparsable; Bundle.Capture(NodeData.Path(cap)) says which.
type NodeData struct {
	Name string

	IPTables, IPTablesLegacy, IPTablesNFT, IP6Tables *iptables.Dump
	IPVS                                             *ipvsadm.Table
	IPSets                                           *ipset.Sets
	Addrs                                            *iproute.Addrs
	Links                                            *iproute.Links
	Routes                                           *iproute.Routes
	Rules                                            *iproute.Rules
	Neigh                                            *iproute.Neighbours
	FDB                                              *iproute.FDB
	Sysctl                                           *sysctl.Sysctls
	Conntrack                                        *conntrack.Stats
	Lsmod                                            *lsmod.Modules
	// CNI holds every config file of /etc/cni/net.d, sorted by name; CNIActive is the one the
	// runtime uses (the lexically first), nil when there is none.
	CNI            []*CNIConfig
	CNIActive      *CNIConfig
	CNIDirListed   bool // the bundle holds the directory (even empty)
	ResolvConf     *resolvconf.ResolvConf
	KubeletConfig  *kubelet.Config
	KubeletCmdline *kubelet.Cmdline
	SELinux        *selinux.Status
	Hairpin        *hairpin.Ports

	paths map[string]string // capture → bundle path actually read
}

// Path returns the bundle path of a capture of this node: the file read, or where it would be.
func (n *NodeData) Path(capture string) string {
	if p, ok := n.paths[capture]; ok {
		return p
	}
	return "nodes/" + n.Name + "/" + capture
}

// NodeNames returns every node the bundle knows: Node objects and node capture folders, sorted.
// The slice is the model's: callers read it.
func (m *Model) NodeNames() []string {
	if m.nodeNames != nil {
		return m.nodeNames
	}
	return m.collectNodeNames()
}

func (m *Model) collectNodeNames() []string {
	set := map[string]bool{}
	for _, n := range m.Nodes {
		set[n.Name] = true
	}
	for _, n := range m.Bundle.Nodes() {
		set[n] = true
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return slices.Clip(out)
}

// NodeData returns the parsed captures of a node (parsed once, on first use).
func (m *Model) NodeData(name string) *NodeData {
	m.nodeDataMu.Lock()
	defer m.nodeDataMu.Unlock()
	if nd, ok := m.nodeData[name]; ok {
		return nd
	}
	var w warnings
	nd := parseNode(m.Bundle, name, &w, m.env())
	m.Warnings = append(m.Warnings, w...)
	if m.nodeData == nil {
		m.nodeData = map[string]*NodeData{}
	}
	m.nodeData[name] = nd
	return nd
}

// parseFunc adapts the parsers' signatures: each returns its value, and warnings either beside
// it or inside it (a Warnings field).
type parseFunc = func(io.Reader) (any, []diag.Warning, error)

func withWarnings[T any](f func(io.Reader) (T, []diag.Warning, error)) parseFunc {
	return func(r io.Reader) (any, []diag.Warning, error) { return f(r) }
}

func plain[T any](f func(io.Reader) (T, error)) parseFunc {
	return func(r io.Reader) (any, []diag.Warning, error) {
		v, err := f(r)
		return v, innerWarnings(v), err
	}
}

// innerWarnings reads a parse result's Warnings field, if it has one.
func innerWarnings(v any) []diag.Warning {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return nil
	}
	f := rv.FieldByName("Warnings")
	if !f.IsValid() {
		return nil
	}
	w, _ := f.Interface().([]diag.Warning)
	return w
}

// CaptureFormat is one node capture format: its name (for `netsift parse`), the files it is read
// from (first present wins: ip -j JSON before text), its parser, and where it goes in NodeData.
type CaptureFormat struct {
	Name    string
	Capture string
	Files   []string
	Parse   parseFunc
	set     func(nd *NodeData, v any)
}

func one(c string) []string    { return []string{c} }
func either(c string) []string { return []string{c + ".json", c + ".txt"} }

// CaptureFormats is the table of node captures and their parsers, in the order they are read.
var CaptureFormats = []CaptureFormat{
	{"iptables-save", CapIPTables, one(CapIPTables), withWarnings(iptables.Parse), func(nd *NodeData, v any) { nd.IPTables = v.(*iptables.Dump) }},
	{"iptables-legacy-save", CapIPTablesLegacy, one(CapIPTablesLegacy), withWarnings(iptables.Parse), func(nd *NodeData, v any) { nd.IPTablesLegacy = v.(*iptables.Dump) }},
	{"iptables-nft-save", CapIPTablesNFT, one(CapIPTablesNFT), withWarnings(iptables.Parse), func(nd *NodeData, v any) { nd.IPTablesNFT = v.(*iptables.Dump) }},
	{"ip6tables-save", CapIP6Tables, one(CapIP6Tables), withWarnings(iptables.Parse), func(nd *NodeData, v any) { nd.IP6Tables = v.(*iptables.Dump) }},
	{"ipvsadm", CapIPVS, one(CapIPVS), withWarnings(ipvsadm.Parse), func(nd *NodeData, v any) { nd.IPVS = v.(*ipvsadm.Table) }},
	{"ipset", CapIPSet, one(CapIPSet), withWarnings(ipset.Parse), func(nd *NodeData, v any) { nd.IPSets = v.(*ipset.Sets) }},
	{"ip-addr", CapAddr, either(CapAddr), plain(iproute.ParseAddr), func(nd *NodeData, v any) { nd.Addrs = v.(*iproute.Addrs) }},
	{"ip-link", CapLink, either(CapLink), plain(iproute.ParseLink), func(nd *NodeData, v any) { nd.Links = v.(*iproute.Links) }},
	{"ip-route", CapRoute, either(CapRoute), plain(iproute.ParseRoutes), func(nd *NodeData, v any) { nd.Routes = v.(*iproute.Routes) }},
	{"ip-rule", CapRule, either(CapRule), plain(iproute.ParseRules), func(nd *NodeData, v any) { nd.Rules = v.(*iproute.Rules) }},
	{"ip-neigh", CapNeigh, one(CapNeigh), plain(iproute.ParseNeigh), func(nd *NodeData, v any) { nd.Neigh = v.(*iproute.Neighbours) }},
	{"bridge-fdb", CapFDB, one(CapFDB), plain(iproute.ParseFDB), func(nd *NodeData, v any) { nd.FDB = v.(*iproute.FDB) }},
	{"sysctl", CapSysctl, one(CapSysctl), plain(sysctl.Parse), func(nd *NodeData, v any) { nd.Sysctl = v.(*sysctl.Sysctls) }},
	{"conntrack", CapConntrack, one(CapConntrack), plain(conntrack.Parse), func(nd *NodeData, v any) { nd.Conntrack = v.(*conntrack.Stats) }},
	{"lsmod", CapLsmod, one(CapLsmod), plain(lsmod.Parse), func(nd *NodeData, v any) { nd.Lsmod = v.(*lsmod.Modules) }},
	{"resolv-conf", CapResolvConf, one(CapResolvConf), plain(resolvconf.Parse), func(nd *NodeData, v any) { nd.ResolvConf = v.(*resolvconf.ResolvConf) }},
	{"kubelet-config", CapKubeletConfig, one(CapKubeletConfig), plain(kubelet.ParseConfig), func(nd *NodeData, v any) { nd.KubeletConfig = v.(*kubelet.Config) }},
	{"kubelet-cmdline", CapKubeletCmdline, one(CapKubeletCmdline), plain(kubelet.ParseCmdline), func(nd *NodeData, v any) { nd.KubeletCmdline = v.(*kubelet.Cmdline) }},
	{"selinux", CapSELinux, one(CapSELinux), plain(selinux.Parse), func(nd *NodeData, v any) { nd.SELinux = v.(*selinux.Status) }},
	{"hairpin", CapHairpin, one(CapHairpin), plain(hairpin.Parse), func(nd *NodeData, v any) { nd.Hairpin = v.(*hairpin.Ports) }},
}

// parseNode parses one node's captures. It reads only the bundle, so nodes parse in parallel.
func parseNode(b *bundle.Bundle, name string, w *warnings, env *parseEnv) *NodeData {
	nd := &NodeData{Name: name, paths: map[string]string{}}
	dir := "nodes/" + name + "/"
	for i := range CaptureFormats {
		cf := &CaptureFormats[i]
		// Partial output of a failed or timed-out command is parsed too: it is what there is.
		for _, c := range cf.Files {
			f := b.File(dir + c)
			if f == nil || f.Blank() {
				continue
			}
			nd.paths[cf.Capture] = f.Path
			v, warns, err := env.parseCapture(cf, f)
			for _, pw := range warns {
				w.add(f.Path, pw.Line, "%s", pw.Message)
			}
			if err != nil {
				w.add(f.Path, 0, "cannot parse: %v", err)
			} else if v != nil && !reflect.ValueOf(v).IsNil() {
				cf.set(nd, v)
			}
			break
		}
	}
	parseCNIDir(b, nd, w)
	return nd
}

// parseCNIDir reads nodes/<node>/cni/: the files of /etc/cni/net.d.
func parseCNIDir(b *bundle.Bundle, nd *NodeData, w *warnings) {
	dir := "nodes/" + nd.Name + "/" + CapCNIDir
	files := b.Dir(dir)
	rec := b.Capture(dir)
	nd.CNIDirListed = len(files) > 0 || rec.Record != nil
	var names []string
	byName := map[string]*bundle.File{}
	for _, f := range files {
		rel := strings.TrimPrefix(f.Path, dir+"/")
		if strings.Contains(rel, "/") {
			continue // subdirectories (e.g. multus.d) are not configs the runtime loads
		}
		names = append(names, rel)
		byName[rel] = f
	}
	sort.Strings(names)
	for _, name := range names {
		f := byName[name]
		if !cniconf.IsConfigFile(name) {
			continue
		}
		cf, err := cniconf.Parse(name, bytes.NewReader(fileText(f)))
		if err != nil {
			w.add(f.Path, 0, "cannot parse: %v", err)
			continue
		}
		for _, cw := range cf.Warnings {
			w.add(f.Path, cw.Line, "%s", cw.Message)
		}
		nd.CNI = append(nd.CNI, &CNIConfig{Path: f.Path, File: cf})
	}
	if active := cniconf.SelectActive(names); active != "" {
		for _, c := range nd.CNI {
			if path.Base(c.Path) == active {
				nd.CNIActive = c
			}
		}
	}
}

// NodeLog returns a node's log capture (dmesg, kubelet journal) as lines, or nil.
func (m *Model) NodeLog(node, capture string) *bundle.File {
	return m.Bundle.File("nodes/" + node + "/" + capture)
}
