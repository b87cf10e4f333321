// Command watch prints every change below a key prefix, one JSON answer a
// line, without missing any between two long polls.
//
//	watch -endpoint http://127.0.0.1:4001 -prefix /foo            (member started with --v1-dialect=0.1)
//	watch -endpoint http://127.0.0.1:4001 -prefix /foo -api v2    (any member)
//
// With -api v1 it uses etcd 0.1's prefix watch, POST /v1/watch/<prefix>
// index=N, which needs a member started with --v1-dialect=0.1: in that
// dialect the watch covers every key below the prefix and each answer
// carries its own index, so asking again from index+1 misses nothing. (In
// the etcd 0.4 dialect /v1/watch is exact-key and labels answers with the
// current index; use -api v2 there.) With -api v2 it uses the v2 API's
// recursive watch, GET /v2/keys/<prefix>?wait=true&recursive=true&waitIndex=N.
//
// The shell version is watch.sh.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

type watcher struct {
	endpoint, prefix, api string
	http                  *http.Client
}

// next waits for the first change at or after index (0: the next one) and
// returns its raw answer and its own index.
func (w *watcher) next(ctx context.Context, index uint64) ([]byte, uint64, error) {
	var req *http.Request
	var err error
	if w.api == "v2" {
		u := w.endpoint + "/v2/keys" + w.prefix + "?wait=true&recursive=true"
		if index > 0 {
			u += "&waitIndex=" + strconv.FormatUint(index, 10)
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	} else {
		form := url.Values{"index": {strconv.FormatUint(index, 10)}}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, w.endpoint+"/v1/watch"+w.prefix, strings.NewReader(form.Encode()))
		if req != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if err != nil {
		return nil, 0, err
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("watch %s: %d %s", w.prefix, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var ev struct {
		Index uint64 `json:"index"` // v1
		Node  struct {
			ModifiedIndex uint64 `json:"modifiedIndex"`
		} `json:"node"` // v2
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, 0, fmt.Errorf("watch %s: %q: %w", w.prefix, b, err)
	}
	if w.api == "v2" {
		return b, ev.Node.ModifiedIndex, nil
	}
	return b, ev.Index, nil
}

func main() {
	endpoint := flag.String("endpoint", "http://127.0.0.1:4001", "client URL of any member")
	prefix := flag.String("prefix", "/", "print changes of this key and everything below it")
	index := flag.Uint64("index", 0, "start at this index (0: the next change)")
	count := flag.Int("n", 0, "stop after this many changes (0: never)")
	api := flag.String("api", "v1", "v1 (etcd 0.1 prefix watch, --v1-dialect=0.1) or v2")
	flag.Parse()
	if *api != "v1" && *api != "v2" {
		fmt.Fprintln(os.Stderr, "watch: -api must be v1 or v2")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	w := &watcher{endpoint: strings.TrimRight(*endpoint, "/"), prefix: "/" + strings.Trim(*prefix, "/"), api: *api, http: &http.Client{}}
	next := *index
	for n := 0; *count == 0 || n < *count; n++ {
		b, idx, err := w.next(ctx, next)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			fmt.Fprintln(os.Stderr, "watch:", err)
			os.Exit(1)
		}
		fmt.Println(strings.TrimSpace(string(b)))
		next = idx + 1
	}
}
