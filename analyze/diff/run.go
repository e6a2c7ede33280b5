package diff

import (
	"context"
	"fmt"

	"github.com/netsift/netsift/analyze"
	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/analyze/rules"
)

// Run loads both bundles and runs the rules over each (the two at once: they share nothing),
// then compares them. A nil ropts runs no rules: the findings section is then left out, which
// is what --only objects|dataplane wants, at half the cost.
func Run(ctx context.Context, oldSources, newSources []string, bopts bundle.Options, ropts *rules.Options) (*Diff, error) {
	type side struct {
		s   Side
		err error
	}
	load := func(sources []string, ch chan<- side) {
		if ropts == nil {
			m, err := analyze.Load(ctx, sources, bopts)
			ch <- side{Side{Model: m}, err}
			return
		}
		m, res, err := analyze.Run(ctx, sources, bopts, *ropts)
		ch <- side{Side{m, res}, err}
	}
	oc, nc := make(chan side, 1), make(chan side, 1)
	go load(oldSources, oc)
	go load(newSources, nc)
	o, n := <-oc, <-nc
	if o.err != nil {
		return nil, fmt.Errorf("old bundle: %w", o.err)
	}
	if n.err != nil {
		return nil, fmt.Errorf("new bundle: %w", n.err)
	}
	d := Compare(o.s, n.s)
	if ropts == nil {
		d.Sections = []string{SectionObjects, SectionDataplane}
	}
	return d, nil
}
