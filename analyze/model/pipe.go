package model

import (
	"io"
	"sync"
)

// roomPipe is an in-memory pipe with room for pipeChunks chunks of pipeChunk bytes: the
// writer (the bundle's reader, decompressing) goes on until that much waits unread, so it
// and the reader (a dump's parser) each run at their own pace for a while, where io.Pipe
// would hand over every write in step. The chunks go back to a pool shared by every pipe.
type roomPipe struct {
	full chan []byte // written chunks, in order; closed by Close
	fill []byte      // the chunk being written
	cur  []byte      // the chunk being read (what is left of it)
	held []byte      // cur's whole chunk, to give back
}

const (
	pipeChunk  = 256 << 10
	pipeChunks = 16
)

// pipeChunkPool holds chunks read to the end, for the next writes; Load drains it.
var pipeChunkPool sync.Pool

func newRoomPipe() *roomPipe { return &roomPipe{full: make(chan []byte, pipeChunks)} }

func getChunk() []byte {
	if c, ok := pipeChunkPool.Get().(*[]byte); ok {
		return (*c)[:0]
	}
	return make([]byte, 0, pipeChunk)
}

func putChunk(c []byte) { pipeChunkPool.Put(&c) }

// Write copies p into chunks, waiting while the pipe is full. Not safe for use by more than
// one writer.
func (p *roomPipe) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		if p.fill == nil {
			p.fill = getChunk()
		}
		k := copy(p.fill[len(p.fill):cap(p.fill)], b)
		p.fill, b = p.fill[:len(p.fill)+k], b[k:]
		if len(p.fill) == cap(p.fill) {
			p.full <- p.fill
			p.fill = nil
		}
	}
	return n, nil
}

// Close hands over what is written and ends the stream: the reader gets io.EOF after it.
func (p *roomPipe) Close() error {
	if len(p.fill) > 0 {
		p.full <- p.fill
	}
	p.fill = nil
	close(p.full)
	return nil
}

// Read reads what is written, waiting for the writer; io.EOF once it closed and all is read.
// Not safe for use by more than one reader.
func (p *roomPipe) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		if p.held != nil {
			putChunk(p.held)
			p.held = nil
		}
		c, ok := <-p.full
		if !ok {
			return 0, io.EOF
		}
		p.cur, p.held = c, c
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}
