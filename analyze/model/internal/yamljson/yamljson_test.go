package yamljson

import (
	"bytes"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

func convert(t *testing.T, src string) (string, int, error) {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	var c Converter
	var buf bytes.Buffer
	err := c.Write(&buf, &n, 0)
	return buf.String(), c.MaxLine, err
}

func TestWrite(t *testing.T) {
	for src, want := range map[string]string{
		"a: 1":                    `{"a":1}`,
		"a: 0x1f":                 `{"a":31}`,
		"a: 1.5e3":                `{"a":1500}`,
		"a: .inf":                 `{"a":".inf"}`,
		"a: true\nb: yes":         `{"a":true,"b":"yes"}`,
		"a: ~\nb:":                `{"a":null,"b":null}`,
		"t: 2024-01-02T03:04:05Z": `{"t":"2024-01-02T03:04:05Z"}`,
		"l: [1, x]\nm: {k: v}":    `{"l":[1,"x"],"m":{"k":"v"}}`,
		"x: &a [1]\ny: *a":        `{"x":[1],"y":[1]}`,
		"s: |\n  two\n  lines\n":  `{"s":"two\nlines\n"}`,
		"1: one":                  `{"1":"one"}`,
	} {
		got, _, err := convert(t, src)
		if err != nil || got != want {
			t.Errorf("%q: got %s, %v; want %s", src, got, err, want)
		}
	}
	if _, last, _ := convert(t, "a: 1\nb:\n  c: 2\n"); last != 3 {
		t.Errorf("MaxLine %d, want 3", last)
	}
}

// An alias bomb stops at MaxNodes instead of expanding for ever.
func TestWriteBoundsAliases(t *testing.T) {
	src := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for i := range 8 {
		name := string(rune('b' + i))
		src += name + ": &" + name + " [" + strings.Repeat("*"+prev+", ", 9) + "*" + prev + "]\n"
		prev = name
	}
	if _, _, err := convert(t, src); err == nil {
		t.Fatal("a 10^9-node alias expansion was written")
	}
}
