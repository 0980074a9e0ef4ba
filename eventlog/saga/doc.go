// Package saga runs process managers on an eventlog.Store: a saga instance
// is started by an event, performs its steps in order (each step issues a
// command, and may then wait for an event that says how it went), and on a
// failure or a timeout runs the compensations of the steps already done, in
// reverse.
//
// An instance keeps its own state as events in the stream
// "saga.<name>-<instance id>", so a restarted Manager replays them and
// continues where the last one stopped. A step may run again after a crash
// (between doing it and recording it): steps must be idempotent, and
// Instance.Key gives each step a stable key to make its command so (for
// example as the event id, via EventID, so the store drops the repeat).
package saga
