package golden

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// ParseFunc parses one capture for a parser's tests; name is the file name under testdata/, or
// "fuzz" for fuzzed input.
type ParseFunc func(name string, data []byte) (any, error)

// captures lists the files directly under testdata/ (golden/ holds the expected JSON).
func captures(t testing.TB) []string {
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

// Captures parses every capture under testdata/ and compares its JSON with
// testdata/golden/<name>.json (rewritten by go test -update).
func Captures(t *testing.T, parse ParseFunc) {
	for _, name := range captures(t) {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			v, err := parse(name, data)
			if err != nil {
				t.Fatal(err)
			}
			JSON(t, filepath.Join("testdata", "golden", name+".json"), v)
		})
	}
}

// FuzzCaptures fuzzes a parser seeded with the captures under testdata/: it must not fail on an
// in-memory reader, its result must marshal, and every line number in it must lie in the input.
func FuzzCaptures(f *testing.F, parse ParseFunc) {
	for _, name := range captures(f) {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parse("fuzz", data)
		if err != nil {
			t.Fatalf("error on an in-memory reader: %v", err)
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatalf("result does not marshal: %v", err)
		}
		CheckLines(t, v, bytes.Count(data, []byte("\n"))+1)
	})
}

// CheckLines fails when a capture line number anywhere in v (fields Line, Number, TypeLine,
// EndLine, or a KeyLines value) falls outside lines 0..max.
func CheckLines(t testing.TB, v any, max int) {
	t.Helper()
	checkLines(t, reflect.ValueOf(v), "", max)
}

func checkLines(t testing.TB, v reflect.Value, path string, max int) {
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
