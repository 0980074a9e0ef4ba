package record

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/wasmesh/wasmesh/eventlog"
)

// HeaderSize is the frame header: length and checksum.
const HeaderSize = 8

// MaxPayload bounds one record; a larger length in a header is corruption.
const MaxPayload = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Frame errors. ErrShort means the bytes end inside the frame (a torn write
// at the tail); ErrChecksum and ErrLength mean the bytes are wrong.
var (
	ErrShort    = errors.New("record: frame truncated")
	ErrChecksum = errors.New("record: checksum mismatch")
	ErrLength   = errors.New("record: impossible frame length")
	ErrDecode   = errors.New("record: malformed payload")
)

// AppendFrame appends payload framed to dst.
func AppendFrame(dst, payload []byte) []byte {
	var h [HeaderSize]byte
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(payload)))
	crc := crc32.Update(0, castagnoli, h[0:4])
	crc = crc32.Update(crc, castagnoli, payload)
	binary.LittleEndian.PutUint32(h[4:8], crc)
	dst = append(dst, h[:]...)
	return append(dst, payload...)
}

// ReadFrame parses the frame at the start of b and returns its payload and
// total size. The payload aliases b.
func ReadFrame(b []byte) (payload []byte, size int, err error) {
	if len(b) < HeaderSize {
		return nil, 0, ErrShort
	}
	n := binary.LittleEndian.Uint32(b[0:4])
	if n == 0 || n > MaxPayload {
		return nil, 0, ErrLength
	}
	if uint64(len(b)) < HeaderSize+uint64(n) {
		return nil, 0, ErrShort
	}
	crc := crc32.Update(0, castagnoli, b[0:4])
	crc = crc32.Update(crc, castagnoli, b[HeaderSize:HeaderSize+n])
	if crc != binary.LittleEndian.Uint32(b[4:8]) {
		return nil, 0, ErrChecksum
	}
	return b[HeaderSize : HeaderSize+n], HeaderSize + int(n), nil
}

// PayloadLen returns the length field of a frame header (unchecked).
func PayloadLen(h []byte) uint32 { return binary.LittleEndian.Uint32(h[0:4]) }

const eventFormat = 1

// AppendEvent appends the binary encoding of e to dst.
func AppendEvent(dst []byte, e *eventlog.Event) []byte {
	dst = append(dst, eventFormat)
	dst = binary.AppendUvarint(dst, uint64(e.Position))
	dst = binary.AppendUvarint(dst, uint64(e.Version))
	dst = append(dst, e.ID[:]...)
	dst = binary.AppendVarint(dst, e.Time.UnixMicro())
	dst = binary.AppendUvarint(dst, uint64(e.SchemaVersion))
	dst = appendString(dst, e.Stream)
	dst = appendString(dst, e.Type)
	dst = appendString(dst, e.CorrelationID)
	dst = appendString(dst, e.CausationID)
	dst = binary.AppendUvarint(dst, uint64(len(e.Metadata)))
	if len(e.Metadata) > 0 {
		keys := make([]string, 0, len(e.Metadata))
		for k := range e.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			dst = appendString(dst, k)
			dst = appendString(dst, e.Metadata[k])
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(e.Data)))
	return append(dst, e.Data...)
}

// DecodeEvent decodes an event payload. The result does not alias b.
func DecodeEvent(b []byte) (eventlog.Event, error) {
	d := decoder{b: b}
	var e eventlog.Event
	if d.byte() != eventFormat {
		return e, ErrDecode
	}
	e.Position = int64(d.uvarint())
	e.Version = int64(d.uvarint())
	copy(e.ID[:], d.take(16))
	e.Time = time.UnixMicro(d.varint()).UTC()
	e.SchemaVersion = int(d.uvarint())
	e.Stream = d.string()
	e.Type = d.string()
	e.CorrelationID = d.string()
	e.CausationID = d.string()
	if n := d.uvarint(); n > 0 && d.err == nil {
		if n > uint64(len(d.b)) {
			return e, ErrDecode
		}
		e.Metadata = make(map[string]string, n)
		for i := uint64(0); i < n && d.err == nil; i++ {
			k := d.string()
			e.Metadata[k] = d.string()
		}
	}
	if n := d.uvarint(); n > 0 {
		e.Data = append([]byte(nil), d.take(int(n))...)
	}
	if d.err != nil || len(d.b) != 0 || e.Position <= 0 || e.Version <= 0 {
		return eventlog.Event{}, ErrDecode
	}
	return e, nil
}

// EventHeader decodes only what the index needs: position, version, id and
// stream.
func EventHeader(b []byte) (pos, version int64, id uuid.UUID, stream string, err error) {
	d := decoder{b: b}
	if d.byte() != eventFormat {
		return 0, 0, id, "", ErrDecode
	}
	pos = int64(d.uvarint())
	version = int64(d.uvarint())
	copy(id[:], d.take(16))
	d.varint()
	d.uvarint()
	stream = d.string()
	if d.err != nil || pos <= 0 || version <= 0 {
		return 0, 0, id, "", ErrDecode
	}
	return pos, version, id, stream, nil
}

// AppendCheckpoint encodes a subscriber checkpoint.
func AppendCheckpoint(dst []byte, name string, pos int64) []byte {
	dst = appendString(dst, name)
	return binary.AppendUvarint(dst, uint64(pos))
}

// DecodeCheckpoint decodes a checkpoint payload.
func DecodeCheckpoint(b []byte) (string, int64, error) {
	d := decoder{b: b}
	name := d.string()
	pos := int64(d.uvarint())
	if d.err != nil || len(d.b) != 0 {
		return "", 0, ErrDecode
	}
	return name, pos, nil
}

// AppendSnapshot encodes a snapshot.
func AppendSnapshot(dst []byte, s *eventlog.Snapshot) []byte {
	dst = appendString(dst, s.Stream)
	dst = binary.AppendUvarint(dst, uint64(s.Version))
	dst = binary.AppendUvarint(dst, uint64(s.SchemaVersion))
	dst = binary.AppendVarint(dst, s.Time.UnixMicro())
	dst = binary.AppendUvarint(dst, uint64(len(s.Data)))
	return append(dst, s.Data...)
}

// DecodeSnapshot decodes a snapshot payload.
func DecodeSnapshot(b []byte) (eventlog.Snapshot, error) {
	d := decoder{b: b}
	var s eventlog.Snapshot
	s.Stream = d.string()
	s.Version = int64(d.uvarint())
	s.SchemaVersion = int(d.uvarint())
	s.Time = time.UnixMicro(d.varint()).UTC()
	s.Data = append([]byte(nil), d.take(int(d.uvarint()))...)
	if d.err != nil || len(d.b) != 0 {
		return eventlog.Snapshot{}, ErrDecode
	}
	return s, nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decoder reads fields, remembering the first error so call sites stay flat.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err = ErrDecode; d.b = nil }

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) take(n int) []byte {
	if n < 0 || n > len(d.b) {
		d.fail()
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.take(int(d.uvarint()))) }

// BeginFrame reserves a frame header at the end of dst; encode the payload
// after it and call SealFrame with the returned start. It lets the writer
// encode straight into its batch buffer without a copy.
func BeginFrame(dst []byte) ([]byte, int) {
	start := len(dst)
	return append(dst, 0, 0, 0, 0, 0, 0, 0, 0), start
}

// SealFrame fills in the header of the frame that starts at frame[0].
func SealFrame(frame []byte) {
	binary.LittleEndian.PutUint32(frame[0:4], uint32(len(frame)-HeaderSize))
	crc := crc32.Update(0, castagnoli, frame[0:4])
	crc = crc32.Update(crc, castagnoli, frame[HeaderSize:])
	binary.LittleEndian.PutUint32(frame[4:8], crc)
}

// Checksum is CRC32C over b, for the index file.
func Checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
