// Package outbox publishes stored events to a message broker: an event is
// published only after it is stored (the relay reads it from the store), is
// never lost (the relay's checkpoint moves only after the broker accepted
// it, and failures are retried), goes out in stream order (the relay
// publishes one event at a time in global order), and carries its event id
// as the message id so consumers can de-duplicate the repeats that
// at-least-once delivery allows.
//
// The broker is reached through the small Publisher interface defined here;
// an adapter to brokers/ (or any client) implements it.
package outbox
