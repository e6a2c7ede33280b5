package ipvsadm

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// An I/O error is the one thing that makes Parse return an error; what was read is kept.
func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	_, _, err := Parse(io.MultiReader(strings.NewReader("TCP  10.0.0.1:80 rr\n"), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
}
