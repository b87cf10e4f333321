// Command lock runs a command while holding a TestAndSet lock kept in
// etcd-classic's v1 keys API (the etcd 0.4 dialect, the default).
//
//	lock -endpoint http://127.0.0.1:4001 -key /locks/backup -ttl 10 -- tar czf /tmp/db.tgz /var/db
//
// The lock is one key. "unlocked" means free; any other value names the
// holder. To take it, make sure the key exists (create it "unlocked" with
// prevValue=, which only creates), then swap "unlocked" for our name with
// prevValue=unlocked and a TTL. A holder renews its TTL every third of it
// with prevValue=<name>; if it dies the key expires and the next client
// starts over. Waiting clients long-poll /v1/watch/<key> from the index
// their failed attempt reported, so no release is missed. Releasing swaps
// our name back for "unlocked".
//
// The same algorithm in shell is lock.sh.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const unlocked = "unlocked"

// answer is a v1 answer: a node object or an error.
type answer struct {
	status    int
	Action    string `json:"action"`
	Value     string `json:"value"`
	Index     uint64 `json:"index"`
	ErrorCode int    `json:"errorCode"`
	Message   string `json:"message"`
}

type client struct {
	endpoint string
	key      string
	http     *http.Client
}

// do sends a v1 request: POST with a form, or GET/DELETE without one.
func (c *client) do(ctx context.Context, method, prefix string, form url.Values) (*answer, error) {
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
		return a, nil // a directory's listing or event: nothing to read in it here
	}
	if err := json.Unmarshal(b, a); err != nil {
		return nil, fmt.Errorf("%s %s: %d %q: %w", method, prefix+c.key, resp.StatusCode, b, err)
	}
	return a, nil
}

func (c *client) set(ctx context.Context, kv ...string) (*answer, error) {
	form := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Set(kv[i], kv[i+1])
	}
	return c.do(ctx, http.MethodPost, "/v1/keys", form)
}

// acquire blocks until the lock is ours.
func (c *client) acquire(ctx context.Context, name string, ttl int) error {
	for {
		// Create the key, free, unless it is already there (412 then).
		a, err := c.set(ctx, "prevValue", "", "value", unlocked)
		if err != nil {
			return err
		}
		if a.status != http.StatusOK && a.status != http.StatusPreconditionFailed {
			return fmt.Errorf("create %s: %d %s", c.key, a.status, a.Message)
		}
		a, err = c.set(ctx, "prevValue", unlocked, "value", name, "ttl", strconv.Itoa(ttl))
		if err != nil {
			return err
		}
		switch a.status {
		case http.StatusOK:
			return nil
		case http.StatusPreconditionFailed:
			// Held by someone: wait for the next change of the key after
			// the index our attempt saw, then try again.
			if _, err := c.do(ctx, http.MethodPost, "/v1/watch", url.Values{"index": {strconv.FormatUint(a.Index+1, 10)}}); err != nil {
				return err
			}
		case http.StatusNotFound:
			// It expired between our two requests: start over.
		default:
			return fmt.Errorf("take %s: %d %s", c.key, a.status, a.Message)
		}
	}
}

// renew extends the lock; it fails once the lock is no longer ours.
func (c *client) renew(ctx context.Context, name string, ttl int) error {
	a, err := c.set(ctx, "prevValue", name, "value", name, "ttl", strconv.Itoa(ttl))
	if err != nil {
		return err
	}
	if a.status != http.StatusOK {
		return fmt.Errorf("lock %s lost: %d %s", c.key, a.status, a.Message)
	}
	return nil
}

// release frees the lock if it is still ours.
func (c *client) release(ctx context.Context, name string) error {
	a, err := c.set(ctx, "prevValue", name, "value", unlocked)
	if err != nil {
		return err
	}
	if a.status != http.StatusOK {
		return fmt.Errorf("release %s: %d %s", c.key, a.status, a.Message)
	}
	return nil
}

func main() {
	host, _ := os.Hostname()
	endpoint := flag.String("endpoint", "http://127.0.0.1:4001", "client URL of any member")
	key := flag.String("key", "/locks/demo", "the lock's key")
	name := flag.String("name", fmt.Sprintf("%s-%d", host, os.Getpid()), "this holder's name (unique)")
	ttl := flag.Int("ttl", 10, "seconds the lock outlives a holder that stops renewing it (at least 3)")
	flag.Parse()
	if flag.NArg() == 0 || *ttl < 3 {
		fmt.Fprintln(os.Stderr, "usage: lock [flags] -- command [args...]   (-ttl at least 3)")
		flag.PrintDefaults()
		os.Exit(2)
	}
	os.Exit(run(*endpoint, *key, *name, *ttl, flag.Args()))
}

func run(endpoint, key, name string, ttl int, argv []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := &client{endpoint: strings.TrimRight(endpoint, "/"), key: "/" + strings.Trim(key, "/"), http: &http.Client{}}
	if err := c.acquire(ctx, name, ttl); err != nil {
		fmt.Fprintln(os.Stderr, "lock:", err)
		return 1
	}
	fmt.Printf("lock: %s held by %s\n", c.key, name)

	cmdCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(cmdCtx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "lock:", err)
		_ = c.release(context.Background(), name)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(time.Duration(ttl) * time.Second / 3)
	defer tick.Stop()
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-tick.C:
			if rerr := c.renew(ctx, name, ttl); rerr != nil {
				// Someone else may hold it now: stop the command.
				fmt.Fprintln(os.Stderr, "lock:", rerr)
				cancel()
				<-done
				return 1
			}
		}
	}
	if rerr := c.release(context.Background(), name); rerr != nil {
		fmt.Fprintln(os.Stderr, "lock:", rerr)
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lock:", err)
		return 1
	}
	return 0
}
