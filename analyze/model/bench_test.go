package model

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netsift/netsift/analyze/bundle"
)

// The benchmarks read the committed healthy fixture and, when `make bench-data` has written
// them, the generated scale bundles (fixtures/bench/small.tgz, medium.tgz...). Compare ratios
// within one run: the machines are shared.

func benchSource(b *testing.B, name string) string {
	b.Helper()
	p := filepath.Join("..", "..", "fixtures", "bench", name+".tgz")
	if name == "healthy" {
		p = filepath.Join("..", "..", "fixtures", "bundles", "healthy")
	}
	if _, err := os.Stat(p); err != nil {
		b.Skipf("%s is missing: run `make bench-data`", p)
	}
	return p
}

func benchBundle(b *testing.B, name string) (*bundle.Bundle, int64) {
	b.Helper()
	bun, err := bundle.Open(context.Background(), []string{benchSource(b, name)}, bundle.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	for _, p := range bun.Paths() {
		size += int64(len(bun.File(p).Data))
	}
	return bun, size
}

var benchWorkloads = []string{"healthy", "small", "medium"}

// BenchmarkBuild is the model build alone (YAML decoding, indexes, every node's captures) over
// a bundle already in memory; SetBytes is the bundle's uncompressed size.
func BenchmarkBuild(b *testing.B) {
	for _, name := range benchWorkloads {
		b.Run(name, func(b *testing.B) {
			bun, size := benchBundle(b, name)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				Build(bun)
			}
		})
	}
}

// BenchmarkLoad is reading the archive and building the model, as `netsift analyze` does
// before the rules run (files parsed while the archive is read).
func BenchmarkLoad(b *testing.B) {
	for _, name := range benchWorkloads {
		b.Run(name, func(b *testing.B) {
			src := benchSource(b, name)
			_, size := benchBundle(b, name)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Load(context.Background(), []string{src}, bundle.Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseCapture runs every node capture parser of the CaptureFormats table on the
// largest file of its capture in the bundle (one sub-benchmark per parser), and the cluster
// YAML decoder on each cluster/*.yaml.
func BenchmarkParseCapture(b *testing.B) {
	for _, name := range benchWorkloads {
		b.Run(name, func(b *testing.B) {
			bun, _ := benchBundle(b, name)
			for _, cf := range CaptureFormats {
				var biggest *bundle.File
				for _, p := range bun.Paths() {
					if !strings.HasPrefix(p, "nodes/") {
						continue
					}
					for _, f := range cf.Files {
						if strings.HasSuffix(p, "/"+f) && (biggest == nil || len(bun.File(p).Data) > len(biggest.Data)) {
							biggest = bun.File(p)
						}
					}
				}
				if biggest == nil {
					continue
				}
				b.Run(cf.Name, func(b *testing.B) {
					b.SetBytes(int64(len(biggest.Data)))
					b.ReportAllocs()
					for b.Loop() {
						if _, _, err := cf.Parse(bytes.NewReader(biggest.Data)); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			for _, f := range bun.Dir("cluster") {
				if !strings.HasSuffix(f.Path, ".yaml") || len(f.Data) < 64<<10 {
					continue
				}
				b.Run("yaml-"+strings.TrimSuffix(filepath.Base(f.Path), ".yaml"), func(b *testing.B) {
					b.SetBytes(int64(len(f.Data)))
					b.ReportAllocs()
					for b.Loop() {
						m := &Model{Bundle: bun, kinds: map[string]string{}}
						objs, _ := splitObjects(f.Path, f.Data)
						for _, o := range objs {
							m.add(o)
						}
					}
				})
			}
		})
	}
}
