// Package analyze is the pipeline: bundle → model → rules. Its subpackages hold each stage.
package analyze

import (
	"context"

	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/analyze/rules"
)

// Load reads the bundle sources and builds the model, parsing files as they are read.
func Load(ctx context.Context, sources []string, opts bundle.Options) (*model.Model, error) {
	return model.Load(ctx, sources, opts)
}

// Run loads the bundle and runs the selected rules of the catalogue.
func Run(ctx context.Context, sources []string, bopts bundle.Options, ropts rules.Options) (*model.Model, *rules.Result, error) {
	m, err := Load(ctx, sources, bopts)
	if err != nil {
		return nil, nil, err
	}
	res, err := rules.Run(m, rules.All(), ropts)
	if err != nil {
		return nil, nil, err
	}
	return m, res, nil
}
