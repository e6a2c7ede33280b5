package iptables

import (
	"io"
	"strings"
	"unsafe"
)

// parseAhead can be turned off by tests, to compare with the parse on one goroutine.
var parseAhead = true

// aheadLines is how many lines a batch of readAhead holds: enough that handing a batch over costs
// nothing next to parsing it, few enough that the two goroutines start together.
const aheadLines = 512

// aheadBatch is a run of a dump's lines, with the rule lines parsed from their text alone.
type aheadBatch struct {
	first int // the number of lines[0]
	lines []string
	rules []ruleParse   // rules[i] is lines[i]'s when rules[i].line is its number
	err   error         // reading stopped here (not io.EOF)
	made  chan struct{} // closed when rules are made
}

// aheadMakers is how many goroutines make rules: the reader's batches go to whichever is free,
// and the parser takes them back in order.
const aheadMakers = 2

// parseWithAhead is the parse of a dump read without a Cache (Parse, `netsift parse`): other
// goroutines read the lines and parse each rule line's text (makeRule), which is most of the
// work, while this one adds them to the dump in order (applyRule, chains, counters) and freezes
// it. The result is the parse on one goroutine's, warnings and their order included
// (TestParseAheadSame, FuzzParse): what needs the dump read so far is done here, in line order.
func (p *parser) parseWithAhead(r io.Reader) error {
	ordered := make(chan *aheadBatch, 2*aheadMakers+2)
	work := make(chan *aheadBatch, 2*aheadMakers+2)
	free := make(chan *aheadBatch, 2*aheadMakers+4)
	for range aheadMakers {
		go func() {
			var rm ruleMaker
			for b := range work {
				for i, s := range b.lines {
					b.rules[i].line = 0
					if t := strings.TrimLeft(s, " \t"); t != "" && (t[0] == '[' || t[0] == '-') {
						rm.makeRule(b.first+i, s, &b.rules[i])
					}
				}
				close(b.made)
			}
		}()
	}
	go readAhead(r, ordered, work, free)
	var err error
	for b := range ordered {
		<-b.made
		for i, s := range b.lines {
			n := b.first + i
			if b.rules[i].line == n {
				p.prepared = &b.rules[i]
			}
			if !p.fastLine(n, unsafe.Slice(unsafe.StringData(s), len(s))) {
				p.line(n, s) // the batch's string: no copy of the line
			}
			p.prepared = nil
		}
		if b.err != nil {
			err = b.err
		}
		select {
		case free <- b:
		default:
		}
	}
	return err
}

// readAhead reads r's lines into batches and sends each to ordered, in order, and to work, for a
// maker; it closes both at the end of r. A batch's text is one string, which its lines and the
// rules' Text are substrings of.
func readAhead(r io.Reader, ordered, work chan<- *aheadBatch, free <-chan *aheadBatch) {
	defer close(ordered)
	defer close(work)
	line := 0
	var text []byte
	var ends []int
	send := func(err error) {
		var b *aheadBatch
		select {
		case b = <-free:
		default:
			b = &aheadBatch{rules: make([]ruleParse, aheadLines)}
		}
		b.first, b.err, b.lines, b.made = line-len(ends)+1, err, b.lines[:0], make(chan struct{})
		all := string(text)
		start := 0
		for _, end := range ends {
			b.lines = append(b.lines, all[start:end])
			start = end
		}
		ordered <- b
		work <- b
		text, ends = text[:0], ends[:0]
	}
	err := eachLine(r, func(n int, b []byte) {
		line = n
		text = append(text, b...)
		ends = append(ends, len(text))
		if len(ends) == aheadLines {
			send(nil)
		}
	})
	send(err)
}
