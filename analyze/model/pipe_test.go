package model

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

// A roomPipe gives back exactly what was written, in order, whatever the sizes of the writes
// and the reads, across many chunks (more than the pipe holds, so the writer waits), then EOF.
func TestRoomPipe(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, pipeChunk - 1, pipeChunk, pipeChunk + 1, 3*pipeChunks*pipeChunk + 12345} {
		want := make([]byte, size)
		for i := range want {
			want[i] = byte(rng.IntN(256))
		}
		p := newRoomPipe()
		go func() {
			rest := want
			for len(rest) > 0 {
				n := min(len(rest), 1+rng.IntN(3*pipeChunk/2))
				if k, err := p.Write(rest[:n]); k != n || err != nil {
					panic("short write")
				}
				rest = rest[n:]
			}
			p.Close()
		}()
		var got bytes.Buffer
		buf := make([]byte, 100_000)
		for {
			n, err := p.Read(buf[:1+rand.IntN(len(buf)-1)])
			got.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("%d bytes written, %d read back, equal %v", size, got.Len(), bytes.Equal(got.Bytes()[:min(got.Len(), size)], want[:min(got.Len(), size)]))
		}
		if n, err := p.Read(buf); n != 0 || err != io.EOF {
			t.Fatalf("after the end: %d, %v", n, err)
		}
	}
}
