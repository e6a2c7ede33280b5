package rules

import (
	"sync"

	"github.com/netsift/netsift/analyze/model"
)

// memo keeps values several rules derive from the same model (the pod ranges of 2,000 nodes
// with their evidence, say), computed once per model. Only the last model's values are kept.
var memo struct {
	sync.Mutex
	m *model.Model
	v map[string]any
}

// memoize returns f's value for m under key, computing it on first use. Callers must not
// modify what it returns.
func memoize[T any](m *model.Model, key string, f func() T) T {
	memo.Lock()
	if memo.m == m {
		if v, ok := memo.v[key]; ok {
			memo.Unlock()
			return v.(T)
		}
	}
	memo.Unlock()
	v := f() // outside the lock: f may memoize too
	memo.Lock()
	defer memo.Unlock()
	if memo.m != m {
		memo.m, memo.v = m, map[string]any{}
	}
	memo.v[key] = v
	return v
}
