package fastyaml

import (
	"strconv"
	"testing"
)

func TestIntSyntax(t *testing.T) {
	chars := []byte("0123456789abfoxOXB+-")
	var buf []byte
	var walk func(n int)
	walk = func(n int) {
		s := string(buf)
		_, err := strconv.ParseUint(s, 0, 64)
		_, err2 := strconv.ParseInt(s, 0, 64)
		want := err == nil || err2 == nil ||
			err != nil && err.(*strconv.NumError).Err == strconv.ErrRange ||
			err2 != nil && err2.(*strconv.NumError).Err == strconv.ErrRange
		if got := intSyntax(buf); got != want {
			t.Fatalf("intSyntax(%q) = %v, strconv says %v", s, got, want)
		}
		if n == 0 {
			return
		}
		for _, c := range chars {
			buf = append(buf, c)
			walk(n - 1)
			buf = buf[:len(buf)-1]
		}
	}
	walk(4)
	for _, s := range []string{"0x123456789abcdefABCDEF", "99999999999999999999", "0b1111", "-0o777", "0o8", "0x1g"} {
		buf = []byte(s)
		walk(0)
	}
}
