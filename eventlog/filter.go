package eventlog

import (
	"fmt"
	"strings"
)

// Filter selects the streams a subscription delivers. The zero value selects
// all streams.
type Filter struct {
	kind  filterKind
	value string
}

type filterKind int

const (
	filterAll filterKind = iota
	filterStream
	filterCategory
)

// AllStreams selects every event.
func AllStreams() Filter { return Filter{} }

// StreamFilter selects the events of one stream.
func StreamFilter(stream string) Filter { return Filter{kind: filterStream, value: stream} }

// CategoryFilter selects the events of every stream in a category (the
// stream-name prefix before the first '-').
func CategoryFilter(category string) Filter { return Filter{kind: filterCategory, value: category} }

// Match reports whether the filter selects events of stream.
func (f Filter) Match(stream string) bool {
	switch f.kind {
	case filterStream:
		return stream == f.value
	case filterCategory:
		return Category(stream) == f.value
	default:
		return true
	}
}

// String renders the filter as "all", "stream:NAME" or "category:NAME".
func (f Filter) String() string {
	switch f.kind {
	case filterStream:
		return "stream:" + f.value
	case filterCategory:
		return "category:" + f.value
	default:
		return "all"
	}
}

// ParseFilter is String's inverse, for configs and command lines.
func ParseFilter(s string) (Filter, error) {
	switch {
	case s == "" || s == "all":
		return AllStreams(), nil
	case strings.HasPrefix(s, "stream:") && len(s) > len("stream:"):
		return StreamFilter(strings.TrimPrefix(s, "stream:")), nil
	case strings.HasPrefix(s, "category:") && len(s) > len("category:"):
		return CategoryFilter(strings.TrimPrefix(s, "category:")), nil
	}
	return Filter{}, fmt.Errorf("%w: filter %q: want all, stream:NAME or category:NAME", ErrInvalid, s)
}
