// Package record is the file log's on-disk format: frames (length prefix and
// CRC32C) and the binary encodings of events, checkpoints and snapshots.
//
// A frame is
//
//	uint32 length of payload (little endian)
//	uint32 CRC32C (Castagnoli) of the 4 length bytes and the payload
//	payload
//
// The checksum covers the length too, so a flipped bit in the length is
// caught rather than making the reader skip to a wrong place.
package record
