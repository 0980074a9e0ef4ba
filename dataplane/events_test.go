package dataplane

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestEventLogOverHTTP(t *testing.T) {
	dir := t.TempDir()
	_, url := startMeshd(t, fmt.Sprintf(`
logging: {access_log: false}
drain_grace: 1ms
eventlog: {backend: file, file: {dir: %s}}
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes:
      - {match: {prefix: /v1/streams/}, events: {}}
clusters: []
`, dir))
	code, body := post(t, url+"/v1/streams/order-1", `[{"type":"OrderPlaced","data":{"total":10}},{"type":"OrderPaid","data":{}}]`, "Expected-Version", "no-stream", "Content-Type", "application/json")
	if code != 201 {
		t.Fatalf("append: %d %s", code, body)
	}
	// The same expectation again conflicts, and says the real version.
	code, body = post(t, url+"/v1/streams/order-1", `{"type":"OrderShipped"}`, "Expected-Version", "no-stream")
	if code != 409 || !strings.Contains(body, `"actual_version":2`) {
		t.Fatalf("conflict: %d %s", code, body)
	}
	if code, body = post(t, url+"/v1/streams/order-1", `{"type":"OrderShipped"}`, "Expected-Version", "2"); code != 201 {
		t.Fatalf("append at version 2: %d %s", code, body)
	}
	code, body, _ = get(t, url+"/v1/streams/order-1")
	var evs []struct {
		Type    string          `json:"type"`
		Version int64           `json:"version"`
		Data    json.RawMessage `json:"data"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &evs) != nil || len(evs) != 3 || evs[0].Type != "OrderPlaced" || evs[2].Version != 3 {
		t.Fatalf("read: %d %s", code, body)
	}
	if code, body := post(t, url+"/v1/streams/order-1", `{"type":"X"}`, "Expected-Version", "soon"); code != 400 {
		t.Errorf("bad expected version: %d %s", code, body)
	}

	// Subscribe: the three stored events arrive (catch-up), then one
	// appended while subscribed (live).
	req, _ := http.NewRequest("GET", url+"/v1/streams/order-1", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "event: ") {
				got <- strings.TrimPrefix(line, "event: ")
			}
		}
		close(got)
	}()
	want := []string{"ready", "OrderPlaced", "OrderPaid", "OrderShipped"}
	for _, w := range want {
		select {
		case e := <-got:
			if e != w {
				t.Fatalf("event %q, want %q", e, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s event", w)
		}
	}
	post(t, url+"/v1/streams/order-1", `{"type":"OrderDelivered"}`)
	select {
	case e := <-got:
		if e != "OrderDelivered" {
			t.Fatalf("live event %q", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the live event did not arrive")
	}
}
