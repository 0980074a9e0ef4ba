package rabbitmq

import (
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/wasmesh/wasmesh/brokers"
)

// Topology is what the broker declares on every (re)connect.
type Topology struct {
	Exchanges []Exchange `json:"exchanges,omitempty"`
	Queues    []Queue    `json:"queues,omitempty"`
	Bindings  []Binding  `json:"bindings,omitempty"`
}

// Exchange declares one exchange.
type Exchange struct {
	Name string `json:"name"`
	// Type is direct, topic, fanout or headers.
	Type string `json:"type"`
	// Durable defaults to true: the exchange survives a broker restart.
	Durable    *bool          `json:"durable,omitempty"`
	AutoDelete bool           `json:"autoDelete,omitempty"`
	Internal   bool           `json:"internal,omitempty"`
	Arguments  map[string]any `json:"arguments,omitempty"`
}

// Queue declares one queue.
type Queue struct {
	Name string `json:"name"`
	// Type is classic (default) or quorum (replicated, durable, counts
	// deliveries so Delivery.Attempt is exact).
	Type string `json:"type,omitempty"`
	// Durable defaults to true; quorum queues are always durable.
	Durable    *bool `json:"durable,omitempty"`
	AutoDelete bool  `json:"autoDelete,omitempty"`
	Exclusive  bool  `json:"exclusive,omitempty"`
	// DeadLetterExchange receives messages nacked without requeue, expired
	// or dropped by a length limit (x-dead-letter-exchange).
	DeadLetterExchange   string `json:"deadLetterExchange,omitempty"`
	DeadLetterRoutingKey string `json:"deadLetterRoutingKey,omitempty"`
	// MessageTTL expires messages (x-message-ttl).
	MessageTTL brokers.Duration `json:"messageTTL,omitempty"`
	// MaxLength and MaxLengthBytes bound the queue (x-max-length, x-max-length-bytes).
	MaxLength      int64 `json:"maxLength,omitempty"`
	MaxLengthBytes int64 `json:"maxLengthBytes,omitempty"`
	// Overflow is drop-head (default), reject-publish or reject-publish-dlx.
	Overflow string `json:"overflow,omitempty"`
	// DeliveryLimit (quorum only) dead-letters a message after this many
	// redeliveries (x-delivery-limit).
	DeliveryLimit int            `json:"deliveryLimit,omitempty"`
	Arguments     map[string]any `json:"arguments,omitempty"`
}

// Binding binds a queue to an exchange.
type Binding struct {
	Exchange   string         `json:"exchange"`
	Queue      string         `json:"queue"`
	RoutingKey string         `json:"routingKey,omitempty"`
	Arguments  map[string]any `json:"arguments,omitempty"`
}

func durable(p *bool) bool { return p == nil || *p }

// Validate checks the topology without a server.
func (t Topology) Validate() error {
	var errs []error
	for i, e := range t.Exchanges {
		if e.Name == "" {
			errs = append(errs, fmt.Errorf("exchanges[%d]: empty name", i))
		}
		switch e.Type {
		case amqp.ExchangeDirect, amqp.ExchangeTopic, amqp.ExchangeFanout, amqp.ExchangeHeaders:
		default:
			errs = append(errs, fmt.Errorf("exchange %q: type %q, want direct, topic, fanout or headers", e.Name, e.Type))
		}
	}
	for i, q := range t.Queues {
		if q.Name == "" {
			errs = append(errs, fmt.Errorf("queues[%d]: empty name (server-named queues are not supported)", i))
		}
		switch q.Type {
		case "", "classic":
			if q.DeliveryLimit > 0 {
				errs = append(errs, fmt.Errorf("queue %q: deliveryLimit needs type quorum", q.Name))
			}
		case "quorum":
			if !durable(q.Durable) || q.AutoDelete || q.Exclusive {
				errs = append(errs, fmt.Errorf("queue %q: quorum queues must be durable, not auto-delete, not exclusive", q.Name))
			}
		default:
			errs = append(errs, fmt.Errorf("queue %q: type %q, want classic or quorum", q.Name, q.Type))
		}
		switch q.Overflow {
		case "", "drop-head", "reject-publish", "reject-publish-dlx":
		default:
			errs = append(errs, fmt.Errorf("queue %q: overflow %q, want drop-head, reject-publish or reject-publish-dlx", q.Name, q.Overflow))
		}
		if q.MessageTTL < 0 || q.MaxLength < 0 || q.MaxLengthBytes < 0 {
			errs = append(errs, fmt.Errorf("queue %q: negative TTL or length limit", q.Name))
		}
	}
	for i, b := range t.Bindings {
		if b.Queue == "" || b.Exchange == "" {
			errs = append(errs, fmt.Errorf("bindings[%d]: exchange and queue are required", i))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: topology: %w", brokers.ErrBadInput, errors.Join(errs...))
	}
	return nil
}

// table converts config arguments to an AMQP table. JSON numbers arrive as
// float64; whole numbers become int64, which is what RabbitMQ expects for
// x-max-priority, x-expires and the like.
func table(m map[string]any) amqp.Table {
	if m == nil {
		return nil
	}
	t := make(amqp.Table, len(m))
	for k, v := range m {
		t[k] = tableValue(v)
	}
	return t
}

func tableValue(v any) any {
	switch x := v.(type) {
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	case map[string]any:
		return table(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = tableValue(e)
		}
		return out
	}
	return v
}

func (q Queue) args() amqp.Table {
	a := table(q.Arguments)
	if a == nil {
		a = amqp.Table{}
	}
	if q.Type == "quorum" {
		a["x-queue-type"] = "quorum"
	}
	if q.DeadLetterExchange != "" {
		a["x-dead-letter-exchange"] = q.DeadLetterExchange
	}
	if q.DeadLetterRoutingKey != "" {
		a["x-dead-letter-routing-key"] = q.DeadLetterRoutingKey
	}
	if q.MessageTTL > 0 {
		a["x-message-ttl"] = int64(q.MessageTTL.Or(0).Milliseconds())
	}
	if q.MaxLength > 0 {
		a["x-max-length"] = q.MaxLength
	}
	if q.MaxLengthBytes > 0 {
		a["x-max-length-bytes"] = q.MaxLengthBytes
	}
	if q.Overflow != "" {
		a["x-overflow"] = q.Overflow
	}
	if q.DeliveryLimit > 0 {
		a["x-delivery-limit"] = int64(q.DeliveryLimit)
	}
	return a
}

// declare declares t on a fresh channel of c. An exchange a binding names
// that t does not declare must already exist (checked passively), so a
// missing exchange is reported at start rather than at the first publish.
func declare(c *amqp.Connection, t Topology) error {
	ch, err := c.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	declared := map[string]bool{"": true}
	queues := map[string]bool{}
	for _, e := range t.Exchanges {
		if err := ch.ExchangeDeclare(e.Name, e.Type, durable(e.Durable), e.AutoDelete, e.Internal, false, table(e.Arguments)); err != nil {
			return fmt.Errorf("declare exchange %q: %w", e.Name, err)
		}
		declared[e.Name] = true
	}
	for _, q := range t.Queues {
		if _, err := ch.QueueDeclare(q.Name, durable(q.Durable) || q.Type == "quorum", q.AutoDelete, q.Exclusive, false, q.args()); err != nil {
			return fmt.Errorf("declare queue %q: %w", q.Name, err)
		}
		queues[q.Name] = true
	}
	for _, b := range t.Bindings {
		if !declared[b.Exchange] {
			if err := ch.ExchangeDeclarePassive(b.Exchange, "", false, false, false, false, nil); err != nil {
				return fmt.Errorf("binding %s -> %s: exchange %q does not exist and is not declared: %w", b.Exchange, b.Queue, b.Exchange, err)
			}
			declared[b.Exchange] = true
		}
		if !queues[b.Queue] {
			if _, err := ch.QueueDeclarePassive(b.Queue, false, false, false, false, nil); err != nil {
				return fmt.Errorf("binding %s -> %s: queue %q does not exist and is not declared: %w", b.Exchange, b.Queue, b.Queue, err)
			}
			queues[b.Queue] = true
		}
		if err := ch.QueueBind(b.Queue, b.RoutingKey, b.Exchange, false, table(b.Arguments)); err != nil {
			return fmt.Errorf("bind %s -> %s (%q): %w", b.Exchange, b.Queue, b.RoutingKey, err)
		}
	}
	return nil
}
