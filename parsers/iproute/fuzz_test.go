package iproute

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// fuzzParse seeds with the real captures of kind and checks that no input panics and that
// every warning points inside the input.
func fuzzParse(f *testing.F, kind string, parse func(io.Reader) (any, error)) {
	paths, _ := filepath.Glob(filepath.Join("testdata", kind+".*"))
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil && !strings.HasSuffix(p, ".sh") {
			f.Add(data)
		}
	}
	f.Add([]byte("[{\"dst\":\"default\"},\n{]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parse(bytes.NewReader(data))
		if err != nil {
			return
		}
		// The fast JSON decoder must parse exactly as encoding/json does.
		saved := fastJSON
		fastJSON = stdJSON{}
		ref, _ := parse(bytes.NewReader(data))
		fastJSON = saved
		if !reflect.DeepEqual(v, ref) {
			t.Fatalf("json-iterator and encoding/json parse differently:\n%+v\n%+v", v, ref)
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		var ws []int
		switch x := v.(type) {
		case *Addrs:
			checkOwner(t, x)
			for _, w := range x.Warnings {
				ws = append(ws, w.Line)
			}
		case *Links:
			for _, w := range x.Warnings {
				ws = append(ws, w.Line)
			}
		case *Routes:
			checkLookup(t, x)
			for _, w := range x.Warnings {
				ws = append(ws, w.Line)
			}
		case *Rules:
			for _, w := range x.Warnings {
				ws = append(ws, w.Line)
			}
		case *Neighbours:
			for _, w := range x.Warnings {
				ws = append(ws, w.Line)
			}
		case *FDB:
			for _, w := range x.Warnings {
				ws = append(ws, w.Line)
			}
		}
		for _, l := range ws {
			if l < 0 || l > lines {
				t.Fatalf("warning at line %d of a %d-line input", l, lines)
			}
		}
	})
}

func FuzzParseAddr(f *testing.F)   { fuzzParse(f, "ip-addr", parsers["ip-addr"]) }
func FuzzParseLink(f *testing.F)   { fuzzParse(f, "ip-link", parsers["ip-link"]) }
func FuzzParseRoutes(f *testing.F) { fuzzParse(f, "ip-route", parsers["ip-route"]) }
func FuzzParseRules(f *testing.F)  { fuzzParse(f, "ip-rule", parsers["ip-rule"]) }
func FuzzParseNeigh(f *testing.F)  { fuzzParse(f, "ip-neigh", parsers["ip-neigh"]) }
func FuzzParseFDB(f *testing.F)    { fuzzParse(f, "bridge-fdb", parsers["bridge-fdb"]) }

type stdJSON struct{}

func (stdJSON) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// A capture parsed after another with one AddrCache is what ParseAddr makes of it alone,
// whatever the first capture was: sharing changes where addresses are held, never what they are.
func FuzzParseAddrShared(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "ip-addr.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data, data)
	f.Add(data, bytes.Replace(data, []byte(`"prefixlen":24`), []byte(`"prefixlen":25`), 1))
	f.Add(data, bytes.Replace(data, []byte(`"prefixlen":24`), []byte(`"prefixlen":"x"`), 1))
	f.Add(bytes.Replace(data, []byte(`"prefixlen":24`), []byte(`"prefixlen":"x"`), 1), data)
	f.Add(data, append([]byte("\n"), data...))
	f.Fuzz(func(t *testing.T, first, second []byte) {
		c := &AddrCache{}
		ParseAddrShared(bytes.NewReader(first), c)
		got, gerr := ParseAddrShared(bytes.NewReader(second), c)
		want, werr := ParseAddr(bytes.NewReader(second))
		if (gerr == nil) != (werr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("shared parse differs:\n%+v\nalone:\n%+v", got, want)
		}
	})
}

// An interface with the same addr_info on the same line holds the last capture's addresses.
func TestParseAddrSharedShares(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "ip-addr.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := &AddrCache{}
	first, _ := ParseAddrShared(bytes.NewReader(data), c)
	second, _ := ParseAddrShared(bytes.NewReader(data), c)
	shared := 0
	for i, it := range second.Interfaces {
		if len(it.Addresses) == 0 {
			continue
		}
		if &it.Addresses[0] != &first.Interfaces[i].Addresses[0] {
			t.Errorf("%s: same addr_info, addresses not shared", it.Name)
		}
		shared++
	}
	if shared == 0 {
		t.Fatal("no interface with addresses in the capture")
	}
	// A changed prefix length: that interface's addresses are its own.
	changed := bytes.Replace(data, []byte(`"prefixlen":24`), []byte(`"prefixlen":25`), 1)
	if bytes.Equal(changed, data) {
		t.Fatal("no /24 address in the capture")
	}
	third, _ := ParseAddrShared(bytes.NewReader(changed), c)
	own := 0
	for i, it := range third.Interfaces {
		if len(it.Addresses) > 0 && &it.Addresses[0] != &second.Interfaces[i].Addresses[0] {
			own++
		}
	}
	if own != 1 {
		t.Errorf("%d interfaces with addresses of their own, want 1", own)
	}
}

func FuzzParseRoutesShared(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "ip-route.txt"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data, data)
	f.Add(data, bytes.Replace(data, []byte("dev"), []byte("dev x"), 1))
	f.Add(data, append([]byte("\n"), data...))
	f.Add(ipvsRoutes(300, ""), ipvsRoutes(300, "10.244.7.0/24 dev cni0 proto kernel scope link src 10.244.7.1\n"))
	f.Fuzz(func(t *testing.T, first, second []byte) {
		c := &RouteCache{}
		ParseRoutesShared(bytes.NewReader(first), c)
		got, gerr := ParseRoutesShared(bytes.NewReader(second), c)
		want, werr := ParseRoutes(bytes.NewReader(second))
		if (gerr == nil) != (werr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("shared parse differs:\n%+v\nalone:\n%+v", got, want)
		}
	})
}

// ipvsRoutes is an IPVS node's routes: a route of its own (own, when not ""), then a host route
// per ClusterIP in the local table.
func ipvsRoutes(services int, own string) []byte {
	b := []byte("default via 172.20.0.1 dev eth0 proto static metric 100\n" + own)
	for i := range services {
		b = fmt.Appendf(b, "local 10.96.%d.%d dev kube-ipvs0 table local proto kernel scope host src 10.96.%d.%d\n", i/250, i%250+1, i/250, i%250+1)
	}
	return b
}

// Chunks that read the same as the last capture's at the same place are its chunks; a route of
// a node's own shifts the lines of every route after it, so nothing after it is shared.
func TestParseRoutesSharedShares(t *testing.T) {
	c := &RouteCache{}
	first, _ := ParseRoutesShared(bytes.NewReader(ipvsRoutes(3*routeChunk, "")), c)
	second, _ := ParseRoutesShared(bytes.NewReader(ipvsRoutes(3*routeChunk, "")), c)
	if first.Len() != 3*routeChunk+1 || len(second.chunks) != 4 {
		t.Fatalf("%d routes in %d chunks", second.Len(), len(second.chunks))
	}
	for k := range second.chunks {
		if &second.chunks[k][0] != &first.chunks[k][0] {
			t.Errorf("chunk %d: the same routes, not shared", k)
		}
	}
	// The same routes with one more route in the middle (so different lines after it).
	in := ipvsRoutes(3*routeChunk, "")
	at := 0
	for range routeChunk + routeChunk/2 { // the start of a route in chunk 1
		at += bytes.IndexByte(in[at:], '\n') + 1
	}
	third, _ := ParseRoutesShared(bytes.NewReader(slices.Concat(in[:at], []byte("10.244.7.0/24 dev cni0\n"), in[at:])), c)
	if &third.chunks[0][0] != &second.chunks[0][0] {
		t.Error("chunk 0 is the same, not shared")
	}
	for k := 1; k < len(third.chunks); k++ { // chunk 1 has the new route, the others new lines
		if k < len(second.chunks) && &third.chunks[k][0] == &second.chunks[k][0] {
			t.Errorf("chunk %d differs, shared", k)
		}
	}
	alone, _ := ParseRoutes(bytes.NewReader(slices.Concat(in[:at], []byte("10.244.7.0/24 dev cni0\n"), in[at:])))
	if !reflect.DeepEqual(third.List(), alone.List()) {
		t.Error("shared parse differs from a parse alone")
	}
}

// sameRoute looks at every field: a Route or Nexthop that differs from another in any one field
// only is not the same.
func TestSameRouteFields(t *testing.T) {
	set := func(v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			v.SetString("x")
		case reflect.Int, reflect.Int64:
			v.SetInt(7)
		case reflect.Uint32:
			v.SetUint(7)
		case reflect.Slice:
			v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		default:
			switch v.Interface().(type) {
			case netip.Addr:
				v.Set(reflect.ValueOf(netip.MustParseAddr("10.0.0.7")))
			case netip.Prefix:
				v.Set(reflect.ValueOf(netip.MustParsePrefix("10.0.0.0/8")))
			default:
				t.Fatalf("no test value for a %s", v.Type())
			}
		}
	}
	rt := reflect.TypeFor[Route]()
	for i := range rt.NumField() {
		var b Route
		set(reflect.ValueOf(&b).Elem().Field(i))
		if sameRoute(Route{}, b) {
			t.Errorf("routes that differ in %s are the same", rt.Field(i).Name)
		}
	}
	nt := reflect.TypeFor[Nexthop]()
	for i := range nt.NumField() {
		b := Route{Nexthops: []Nexthop{{}}}
		set(reflect.ValueOf(&b.Nexthops[0]).Elem().Field(i))
		if sameRoute(Route{Nexthops: []Nexthop{{}}}, b) {
			t.Errorf("nexthops that differ in %s are the same", nt.Field(i).Name)
		}
	}
}

// checkOwner: Owner finds the first interface holding each address, as a scan does.
func checkOwner(t *testing.T, as *Addrs) {
	t.Helper()
	scan := func(a netip.Addr) *Interface {
		for i := range as.Interfaces {
			for _, p := range as.Interfaces[i].Addresses {
				if p.Prefix.Addr() == a {
					return &as.Interfaces[i]
				}
			}
		}
		return nil
	}
	probes := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("::1"), {}}
	for _, in := range as.Interfaces {
		for _, p := range in.Addresses {
			probes = append(probes, p.Prefix.Addr(), p.Prefix.Addr().Next())
		}
	}
	for _, a := range probes {
		if got, want := as.Owner(a), scan(a); got != want {
			t.Fatalf("Owner(%s) = %v, the scan gives %v", a, got, want)
		}
	}
}
