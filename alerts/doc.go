// Package alerts tells people about issues: by email over SMTP and through
// messaging backends (Slack, Mattermost, Discord, Telegram and a generic
// JSON webhook) configured per project.
//
// # Flow
//
// Three things alert, each switchable per project: a new issue, a
// regression, and an unmute that an event triggered (reference §6.7). The
// digest calls store.Tx.EnqueueAlert inside its batch transaction, which
// writes one outbox record (store.Delivery) per destination: each backend
// of the project and each member who gets alert emails. The alert commits
// with the event that caused it, or not at all. After the commit the
// digest calls Sender.Poke, and Run, a goroutine of its own, delivers the
// records. Digest never waits for a delivery.
//
// # Durability and duplicates
//
// A record stays in the store until its delivery succeeded (then it is
// deleted in the same store transaction that notes the success) or was
// given up. A restart loses no alert: Run starts with whatever the outbox
// holds, and the time of each record's next attempt is stored, so retries
// resume on schedule. Each destination gets each alert exactly once, with
// one exception: if tinysink stops after a receiver accepted a message but
// before the success was recorded (a window of one store write), that
// message is sent again after the restart. HTTP receivers get an
// Idempotency-Key header, the same on every attempt of a record, to drop
// such a copy; Slack, Discord and the others ignore it. An email counted
// against the hourly cap stays counted across its retries.
//
// # Isolation
//
// Each destination is delivered by its own goroutine, at most MaxInFlight
// (4) at once, and a destination's records go one at a time in order. A
// webhook request has a 5 s timeout and an SMTP conversation 30 s, so one
// slow or dead endpoint holds one slot for a bounded time and delays no
// other destination; failures wait out their backoff without a slot.
//
// # Outbound safety
//
// Webhook requests follow no redirects, use no proxy, and connect only to
// addresses the OutboundPolicy allows, pinned at dial time (see
// OutboundPolicy).
package alerts
