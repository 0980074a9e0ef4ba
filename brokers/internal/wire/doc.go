// Package wire maps a brokers.Message to the string headers that every
// transport can carry (the CloudEvents binary-mode binding: attributes as
// "ce_"-prefixed headers) and back, so all adapters agree on one encoding.
package wire
