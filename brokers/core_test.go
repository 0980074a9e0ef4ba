package brokers

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestPrepare(t *testing.T) {
	tests := []struct {
		name    string
		msg     *Message
		wantErr bool
	}{
		{"defaults filled", &Message{Payload: []byte("x")}, false},
		{"nil", nil, true},
		{"bad header name", &Message{Headers: map[string]string{"": "v"}}, true},
		{"bad traceparent", &Message{Headers: map[string]string{HeaderTraceParent: "nope"}}, true},
		{"good traceparent", &Message{Headers: map[string]string{HeaderTraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.msg.Prepare()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Prepare() = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrBadInput) {
				t.Fatalf("error %v is not ErrBadInput", err)
			}
			if err == nil && (tt.msg.ID == "" || tt.msg.Time.IsZero()) {
				t.Fatalf("defaults not filled: %+v", tt.msg)
			}
		})
	}
}

func TestErrorKinds(t *testing.T) {
	cause := errors.New("dial tcp: refused")
	err := NewError("publish", "orders", "t1", ErrUnavailable, cause)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, cause) || errors.Is(err, ErrUnroutable) {
		t.Fatalf("errors.Is mismatch for %v", err)
	}
	if !strings.Contains(err.Error(), "orders") || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("message lacks context: %v", err)
	}
	p := Permanent(cause)
	if !IsPermanent(p) || IsPermanent(cause) || !errors.Is(p, cause) {
		t.Fatal("Permanent marking wrong")
	}
}

func TestDecodeOptionsStrict(t *testing.T) {
	var v struct {
		A int `json:"a"`
	}
	if err := DecodeOptions([]byte(`{"a":1}`), &v); err != nil || v.A != 1 {
		t.Fatalf("decode: %v %+v", err, v)
	}
	err := DecodeOptions([]byte(`{"b":1}`), &v)
	if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), `"b"`) {
		t.Fatalf("unknown field not rejected clearly: %v", err)
	}
}

func TestOpenUnknownType(t *testing.T) {
	_, err := Open(context.Background(), Config{Name: "x", Type: "nope"}, Env{})
	if !errors.Is(err, ErrBadInput) {
		t.Fatalf("got %v", err)
	}
	_, err = Open(context.Background(), Config{Type: "nope"}, Env{})
	if !errors.Is(err, ErrBadInput) {
		t.Fatalf("empty name: got %v", err)
	}
}

func TestChainOrder(t *testing.T) {
	var trace []string
	mw := func(name string) Middleware {
		return func(next Handler) Handler {
			return func(ctx context.Context, d *Delivery) error {
				trace = append(trace, name)
				return next(ctx, d)
			}
		}
	}
	h := Chain(mw("a"), mw("b"))(func(context.Context, *Delivery) error { trace = append(trace, "h"); return nil })
	_ = h(context.Background(), nil)
	if strings.Join(trace, ",") != "a,b,h" {
		t.Fatalf("order %v", trace)
	}
}

type recAck struct{ acks, nacks int }

func (r *recAck) Ack(context.Context) error        { r.acks++; return nil }
func (r *recAck) Nack(context.Context, bool) error { r.nacks++; return nil }

func TestDeliverySettlesOnce(t *testing.T) {
	r := &recAck{}
	d := NewDelivery("t", &Message{}, 0, r)
	if d.Attempt != 1 {
		t.Fatalf("attempt %d", d.Attempt)
	}
	if err := d.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := d.Nack(context.Background(), true); !errors.Is(err, ErrSettled) {
		t.Fatalf("second settle: %v", err)
	}
	if r.acks != 1 || r.nacks != 0 {
		t.Fatalf("acks %d nacks %d", r.acks, r.nacks)
	}
}
