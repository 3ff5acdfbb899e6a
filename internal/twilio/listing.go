package twilio

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
)

// A listing is read page by page, and each page must keep Twilio's
// contract: its records under the documented key, as a list (an empty
// list on an empty page), and a next page that this listing has not read
// yet. A page that breaks it (the key missing or null, a body of "{}",
// a list of the wrong type, a next page pointing back at one already
// read) is not an empty page, nor a page to read twice: it is a
// *ContractError, tried again like a malformed body (a proxy, a cache or
// a deploy in flight may have sent it), and if it persists through the
// request's retry budget the listing fails, so a window is never taken
// as read when it was not.

// ContractError is a 2xx page that breaks Twilio's documented contract
// for a listing.
type ContractError struct {
	Key    string // the records key: "usage_records", "accounts", "sims"
	Reason string // what is wrong, in words
}

func (e *ContractError) Error() string {
	return "the page breaks Twilio's contract for a listing of " + e.Key + ": " + e.Reason
}

// list is a page's records under their key. It remembers whether the key
// was there, and held a list.
type list[T any] struct {
	Items []T
	seen  bool // the key was present (its value may be null)
	ok    bool // its value was a list
	kind  string
}

// UnmarshalJSON takes a JSON array; null or another kind of value is
// recorded, and reported by check.
func (l *list[T]) UnmarshalJSON(b []byte) error {
	l.seen = true
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) > 0 && b[0] == '[' {
		l.ok = true
		return json.Unmarshal(b, &l.Items)
	}
	l.kind = jsonKind(b)
	return nil
}

// check returns the *ContractError of a list that was missing, null or of
// another kind, or nil.
func (l *list[T]) check(key string) error {
	switch {
	case !l.seen:
		return &ContractError{Key: key, Reason: fmt.Sprintf("it has no %q key", key)}
	case !l.ok:
		return &ContractError{Key: key, Reason: fmt.Sprintf("%q is %s, not a list", key, l.kind)}
	}
	return nil
}

// jsonKind names the kind of JSON value b starts with.
func jsonKind(b []byte) string {
	if len(b) == 0 {
		return "empty"
	}
	switch b[0] {
	case 'n':
		return "null"
	case '{':
		return "an object"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

// pager follows the pages of one listing and refuses a next page that
// the listing has already read: one that repeats a page would store its
// records twice, and one that points at itself would never end.
type pager struct {
	key     string
	visited map[string]bool
}

func newPager(key, first string, query url.Values) *pager {
	return &pager{key: key, visited: map[string]bool{pageID(first, query): true}}
}

// checkNext returns a *ContractError when next (absolute; "" on the last
// page) was already read in this listing.
func (p *pager) checkNext(next string) error {
	if next != "" && p.visited[pageID(next, nil)] {
		return &ContractError{Key: p.key, Reason: fmt.Sprintf("its next page %s was already read in this listing", describe(next, nil))}
	}
	return nil
}

// visit records next as read.
func (p *pager) visit(next string) { p.visited[pageID(next, nil)] = true }

// pageID identifies a page: its path and its query, parameters sorted, so
// the same page asked for with its parameters in another order is the
// same page. Page=0 without a PageToken is the first page, as is no
// Page at all: Twilio's first_page_uri says Page=0 where the first
// request said nothing.
func pageID(rawURL string, query url.Values) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	if query == nil {
		query = u.Query()
	}
	if query.Get("Page") == "0" && query.Get("PageToken") == "" {
		query = maps.Clone(query)
		query.Del("Page")
	}
	return u.Path + "?" + query.Encode()
}

// follow reads a listing from first: each page is fetched and decoded
// into a fresh P under the retry policy, checked by the page's own check
// (its records key) and the pager's (its next page), then handed to
// yield. next gives a page's next page's absolute URL, "" on the last. A
// page that cannot be had fails the listing with an error that starts
// with what ("list accounts") when what is not empty; yield's errors are
// returned as they are.
func follow[P any](ctx context.Context, c *Client, what, key, first string, query url.Values,
	decode func(body []byte, page *P) error, check func(*P) error, next func(*P) string, yield func(*P) error) error {
	pg := newPager(key, first, query)
	for rawURL := first; rawURL != ""; {
		var page P
		err := c.getDecoded(ctx, rawURL, query, func(body []byte) error {
			var zero P
			page = zero
			if err := decode(body, &page); err != nil {
				return err
			}
			if err := check(&page); err != nil {
				return err
			}
			return pg.checkNext(next(&page))
		})
		if err != nil {
			if what == "" {
				return err
			}
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := yield(&page); err != nil {
			return err
		}
		rawURL, query = next(&page), nil
		pg.visit(rawURL)
	}
	return nil
}

// unmarshal is follow's decode for pages encoding/json decodes.
func unmarshal[P any](body []byte, page *P) error { return json.Unmarshal(body, page) }
