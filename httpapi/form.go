package httpapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// maxFormBody is Go's own cap on url-encoded bodies (10 MiB); etcd's only
// size limit on v2 writes. Longer bodies fail with error 210, "http: POST
// too large": a value of 10 MiB minus its "value=" is stored, one of
// exactly 10 MiB is refused.
const maxFormBody = 10 << 20

// errPostTooLarge is Go's message for a form body over maxFormBody.
var errPostTooLarge = errors.New("http: POST too large")

// parseForm parses the query and, for PUT, POST and PATCH with a
// url-encoded body, the body (body values first: the first value of a name
// wins, so the body beats the query, as in etcd). Bodies of other methods
// and content types are not read; the body read is bounded by
// maxFormBody. The result is kept in r.Form and r.PostForm.
//
// It is Go's Request.ParseForm as etcd 3.4 was built with it (Go 1.19):
// since Go 1.24, url.ParseQuery refuses a query of more than 10,000
// parameters outright, which made such writes fail with 210 where etcd
// stores them. Everything else — error texts, which error wins, semicolon
// and escape handling — is unchanged.
func parseForm(r *http.Request) (url.Values, error) {
	if r.Form != nil {
		return r.Form, nil
	}
	var err error
	post := url.Values{}
	if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
		post, err = parsePostForm(r)
		if post == nil {
			post = url.Values{}
		}
	}
	form := make(url.Values, len(post))
	for k, vs := range post {
		form[k] = append(form[k], vs...)
	}
	if e := parseQuery(form, r.URL.RawQuery); err == nil {
		err = e
	}
	r.PostForm, r.Form = post, form
	return form, err
}

// parsePostForm reads a url-encoded body (Go's parsePostForm): an absent
// content type counts as application/octet-stream, which is not read.
func parsePostForm(r *http.Request) (url.Values, error) {
	if r.Body == nil {
		return nil, errors.New("missing form body")
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	ct, _, err := mime.ParseMediaType(ct)
	if ct != "application/x-www-form-urlencoded" {
		return nil, err
	}
	b, e := io.ReadAll(io.LimitReader(r.Body, maxFormBody+1))
	if e != nil {
		if err == nil {
			err = e
		}
		return nil, err
	}
	if len(b) > maxFormBody {
		return nil, errPostTooLarge
	}
	vs := url.Values{}
	if e := parseQuery(vs, string(b)); err == nil {
		err = e
	}
	return vs, err
}

// parseQuery adds the parameters of query to m (Go's url.parseQuery
// without the parameter count limit). A name holding a semicolon is
// skipped with an error, which replaces any earlier one; a bad escape is
// skipped and its error kept only if it is the first.
func parseQuery(m url.Values, query string) (err error) {
	for query != "" {
		var key string
		key, query, _ = strings.Cut(query, "&")
		if strings.Contains(key, ";") {
			err = errors.New("invalid semicolon separator in query")
			continue
		}
		if key == "" {
			continue
		}
		key, value, _ := strings.Cut(key, "=")
		key, err1 := url.QueryUnescape(key)
		if err1 != nil {
			if err == nil {
				err = err1
			}
			continue
		}
		value, err1 = url.QueryUnescape(value)
		if err1 != nil {
			if err == nil {
				err = err1
			}
			continue
		}
		m[key] = append(m[key], value)
	}
	return err
}
