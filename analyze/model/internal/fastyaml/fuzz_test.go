package fastyaml

import (
	"math/rand/v2"
	"os"
	"testing"
)

// FuzzConvert checks that whenever Convert takes the fast path, its JSON, lastLine and
// Header agree with the full yaml.v3 path, and that it never panics.
func FuzzConvert(f *testing.F) {
	for _, c := range cases {
		f.Add([]byte(c.in))
	}
	if pod, err := os.ReadFile("testdata/pod.yaml"); err == nil {
		f.Add(pod)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 100; i++ {
		g := &gen{r: r}
		g.mapping(0, 0)
		f.Add([]byte(g.b.String()))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, problem := checkAgainstReference(data); problem != "" {
			t.Fatalf("%s\ninput: %q", problem, data)
		}
	})
}
