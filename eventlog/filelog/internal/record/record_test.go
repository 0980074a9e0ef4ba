package record

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wasmesh/wasmesh/eventlog"
)

func TestEventRoundTrip(t *testing.T) {
	e := eventlog.Event{
		ID: uuid.Must(uuid.NewV7()), Stream: "order-1", Type: "Placed", Version: 3, Position: 99,
		Time: time.Now().UTC().Truncate(time.Microsecond), CorrelationID: "c", CausationID: "k",
		SchemaVersion: 2, Metadata: map[string]string{"a": "1", "b": "2"}, Data: []byte(`{"x":1}`),
	}
	frame := AppendFrame(nil, AppendEvent(nil, &e))
	payload, size, err := ReadFrame(frame)
	if err != nil || size != len(frame) {
		t.Fatalf("ReadFrame: %v size %d/%d", err, size, len(frame))
	}
	got, err := DecodeEvent(payload)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != e.ID || got.Stream != e.Stream || got.Type != e.Type || got.Version != 3 || got.Position != 99 ||
		!got.Time.Equal(e.Time) || got.CorrelationID != "c" || got.CausationID != "k" || got.SchemaVersion != 2 ||
		got.Metadata["b"] != "2" || string(got.Data) != `{"x":1}` {
		t.Fatalf("round trip: %+v", got)
	}
	pos, v, id, stream, err := EventHeader(payload)
	if err != nil || pos != 99 || v != 3 || id != e.ID || stream != "order-1" {
		t.Fatalf("EventHeader = %d %d %s %q %v", pos, v, id, stream, err)
	}
}

// TestEveryFlippedBitIsCaught flips each bit of a frame in turn: the reader
// must never return a payload for any of them.
func TestEveryFlippedBitIsCaught(t *testing.T) {
	e := eventlog.Event{ID: uuid.Must(uuid.NewV7()), Stream: "s", Type: "T", Version: 1, Position: 1, Data: []byte("hello")}
	frame := AppendFrame(nil, AppendEvent(nil, &e))
	for i := 0; i < len(frame)*8; i++ {
		b := append([]byte(nil), frame...)
		b[i/8] ^= 1 << (i % 8)
		if _, _, err := ReadFrame(b); err == nil {
			t.Fatalf("flipping bit %d went unnoticed", i)
		}
	}
}

func TestTruncatedFrames(t *testing.T) {
	frame := AppendFrame(nil, []byte("payload"))
	for n := 0; n < len(frame); n++ {
		_, _, err := ReadFrame(frame[:n])
		if !errors.Is(err, ErrShort) {
			t.Fatalf("frame cut at %d: err = %v, want ErrShort", n, err)
		}
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, {2}, {1, 0x80}, {1, 1, 1}} {
		if _, err := DecodeEvent(b); err == nil {
			t.Errorf("DecodeEvent(%v) accepted garbage", b)
		}
	}
}
