package sysctl

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/netsift/netsift/internal/golden"
)

// testInputs lists the captures under testdata/ (the golden/ folder holds the expected JSON).
func testInputs(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() {
			out = append(out, e.Name())
		}
	}
	if len(out) == 0 {
		t.Fatal("no captures under testdata/")
	}
	return out
}

// TestGolden parses every capture and compares its JSON with testdata/golden/<name>.json
// (rewritten by go test -update).
func TestGolden(t *testing.T) {
	for _, name := range testInputs(t) {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			v, err := parseForTest(name, data)
			if err != nil {
				t.Fatal(err)
			}
			golden.JSON(t, filepath.Join("testdata", "golden", name+".json"), v)
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range testInputs(f) {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parseForTest("fuzz", data)
		if err != nil {
			t.Fatalf("error on an in-memory reader: %v", err)
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatalf("result does not marshal: %v", err)
		}
		checkLines(t, reflect.ValueOf(v), "", bytes.Count(data, []byte("\n"))+1)
	})
}

// checkLines fails when a capture line number anywhere in v (fields Line, Number, TypeLine,
// EndLine, or a KeyLines value) falls outside the input.
func checkLines(t *testing.T, v reflect.Value, path string, max int) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			checkLines(t, v.Elem(), path, max)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			if fv.Kind() == reflect.Int && (f.Name == "Number" || f.Name == "Line" || f.Name == "TypeLine" || f.Name == "EndLine") {
				if n := int(fv.Int()); n < 0 || n > max {
					t.Fatalf("%s.%s = %d outside lines 0..%d", path, f.Name, n, max)
				}
				continue
			}
			if f.Name == "KeyLines" && fv.Kind() == reflect.Map {
				for _, k := range fv.MapKeys() {
					if n := int(fv.MapIndex(k).Int()); n < 1 || n > max {
						t.Fatalf("%s.KeyLines[%v] = %d outside lines 1..%d", path, k, n, max)
					}
				}
				continue
			}
			checkLines(t, fv, path+"."+f.Name, max)
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		for i := 0; i < v.Len(); i++ {
			checkLines(t, v.Index(i), path, max)
		}
	}
}

func parseForTest(_ string, data []byte) (any, error) { return Parse(bytes.NewReader(data)) }
