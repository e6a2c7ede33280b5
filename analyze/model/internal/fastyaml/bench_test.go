package fastyaml

import (
	"bytes"
	"os"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/netsift/netsift/analyze/model/internal/yamljson"
)

func benchPod(b *testing.B) []byte {
	data, err := os.ReadFile("testdata/pod.yaml")
	if err != nil {
		b.Fatal(err)
	}
	if _, _, ok := Convert(nil, data); !ok {
		b.Fatal("testdata/pod.yaml is not on the fast path")
	}
	return data
}

// BenchmarkConvert converts a realistic pod (a kubectl List item, de-indented).
func BenchmarkConvert(b *testing.B) {
	data := benchPod(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var dst []byte
	for b.Loop() {
		dst, _, _ = Convert(dst[:0], data)
	}
}

// BenchmarkConvertYAMLv3 is the full path on the same pod: yaml.v3 node tree, then the
// converter, as analyze/model/decode.go does it.
func BenchmarkConvertYAMLv3(b *testing.B) {
	data := benchPod(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var n yaml.Node
		if err := yaml.Unmarshal(data, &n); err != nil {
			b.Fatal(err)
		}
		var c yamljson.Converter
		var buf bytes.Buffer
		if err := c.Write(&buf, n.Content[0], 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConvertFixtures converts every fast-path object of the fixture bundles.
func BenchmarkConvertFixtures(b *testing.B) {
	var objs [][]byte
	size := 0
	for _, data := range fixtureFiles(b) {
		for _, obj := range splitItems(data) {
			if _, _, ok := Convert(nil, obj); ok {
				objs = append(objs, obj)
				size += len(obj)
			}
		}
	}
	if len(objs) == 0 {
		b.Skip("no fixtures")
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var dst []byte
	for b.Loop() {
		for _, obj := range objs {
			dst, _, _ = Convert(dst[:0], obj)
		}
	}
}
