// Command election takes part in a leader election kept in etcd-classic's
// v1 keys API (the etcd 0.4 dialect, the default).
//
//	election -endpoint http://127.0.0.1:4001 -key /election/leader -name web1 -ttl 5
//
// The leader is whoever holds the key: candidates create it with their
// name and a TTL (prevValue= only creates). The leader renews the TTL every
// third of it with prevValue=<name>; if it stops (it died, or it lost the
// network) the key expires and the others, who long-poll /v1/watch/<key>,
// campaign again. Each change of role is printed on one line:
//
//	following web1
//	elected web2
//	resigned web2
//
// -for ends the term after a while: with -resign the leader hands over
// at once (its key expires at the next sweep), without it it just stops
// renewing, like a crashed leader. The shell version is election.sh.
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
	"time"
)

type answer struct {
	status    int
	Value     string `json:"value"`
	Index     uint64 `json:"index"`
	ErrorCode int    `json:"errorCode"`
	Message   string `json:"message"`
}

type candidate struct {
	endpoint, key, name string
	ttl                 int
	http                *http.Client
	out                 io.Writer
}

func (c *candidate) do(ctx context.Context, method, prefix string, form url.Values) (*answer, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint+prefix+c.key, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	a := &answer{status: resp.StatusCode}
	if len(b) > 0 && b[0] == '[' {
		return a, nil
	}
	if err := json.Unmarshal(b, a); err != nil {
		return nil, fmt.Errorf("%s %s: %d %q: %w", method, prefix+c.key, resp.StatusCode, b, err)
	}
	return a, nil
}

func (c *candidate) set(ctx context.Context, prevValue string, ttl int) (*answer, error) {
	form := url.Values{"prevValue": {prevValue}, "value": {c.name}, "ttl": {strconv.Itoa(ttl)}}
	return c.do(ctx, http.MethodPost, "/v1/keys", form)
}

// campaign returns once this candidate leads (or ctx ends).
func (c *candidate) campaign(ctx context.Context) error {
	following := ""
	for {
		a, err := c.set(ctx, "", c.ttl)
		if err != nil {
			return err
		}
		switch a.status {
		case http.StatusOK:
			fmt.Fprintln(c.out, "elected", c.name)
			return nil
		case http.StatusPreconditionFailed:
			cur, err := c.do(ctx, http.MethodGet, "/v1/keys", nil)
			if err != nil {
				return err
			}
			if cur.status == http.StatusOK && cur.Value != following {
				following = cur.Value
				fmt.Fprintln(c.out, "following", following)
			}
			// Wait for the next change of the key (renewal, expiry,
			// resignation) after what our attempt saw.
			if _, err := c.do(ctx, http.MethodPost, "/v1/watch", url.Values{"index": {strconv.FormatUint(a.Index+1, 10)}}); err != nil {
				return err
			}
		default:
			return fmt.Errorf("campaign: %d %s", a.status, a.Message)
		}
	}
}

// lead renews the term until ctx ends, the term is over (-for), or the
// key is no longer ours. It reports whether leadership was lost.
func (c *candidate) lead(ctx context.Context, term time.Duration, resign bool) (lost bool, err error) {
	tick := time.NewTicker(time.Duration(c.ttl) * time.Second / 3)
	defer tick.Stop()
	var end <-chan time.Time
	if term > 0 {
		t := time.NewTimer(term)
		defer t.Stop()
		end = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return false, c.resign()
		case <-end:
			if resign {
				return false, c.resign()
			}
			return false, nil
		case <-tick.C:
			a, err := c.set(ctx, c.name, c.ttl)
			if err != nil {
				return false, err
			}
			if a.status != http.StatusOK {
				fmt.Fprintln(c.out, "lost", c.name)
				return true, nil
			}
		}
	}
}

// resign lets the key expire at once (a TTL of 0 expires at the next
// sweep), if it is still ours.
func (c *candidate) resign() error {
	a, err := c.set(context.Background(), c.name, 0)
	if err != nil {
		return err
	}
	if a.status == http.StatusOK {
		fmt.Fprintln(c.out, "resigned", c.name)
	}
	return nil
}

func main() {
	host, _ := os.Hostname()
	endpoint := flag.String("endpoint", "http://127.0.0.1:4001", "client URL of any member")
	key := flag.String("key", "/election/leader", "the election's key")
	name := flag.String("name", fmt.Sprintf("%s-%d", host, os.Getpid()), "this candidate's name (unique)")
	ttl := flag.Int("ttl", 5, "seconds a silent leader keeps the key (at least 3)")
	term := flag.Duration("for", 0, "lead for this long, then stop (0: until interrupted)")
	resign := flag.Bool("resign", false, "with -for: hand over when the term ends instead of just going silent")
	flag.Parse()
	if *ttl < 3 {
		fmt.Fprintln(os.Stderr, "election: -ttl must be at least 3")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := &candidate{endpoint: strings.TrimRight(*endpoint, "/"), key: "/" + strings.Trim(*key, "/"),
		name: *name, ttl: *ttl, http: &http.Client{}, out: os.Stdout}
	for {
		if err := c.campaign(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			fmt.Fprintln(os.Stderr, "election:", err)
			os.Exit(1)
		}
		lost, err := c.lead(ctx, *term, *resign)
		if err != nil {
			fmt.Fprintln(os.Stderr, "election:", err)
			os.Exit(1)
		}
		if !lost {
			return
		}
	}
}
