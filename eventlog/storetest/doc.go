// Package storetest is the conformance suite every eventlog.Store backend
// passes: expected-version conflicts under racing writers, idempotent retries,
// stream and global ordering, subscriptions (catch-up, live, per stream,
// category and all) that miss nothing across a close and reopen, checkpoints
// and snapshots.
//
// A backend's test calls Run with a function that makes a fresh, empty store
// and returns an Opener for it:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Opener {
//			dir := t.TempDir()
//			return func(t *testing.T) eventlog.Store { return mustOpen(t, dir) }
//		})
//	}
package storetest
