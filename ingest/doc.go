// Package ingest serves the HTTP endpoints that Sentry SDKs send events to,
// and writes every accepted event to the spool (package ingest/spool) before
// it answers. It does only cheap work: authenticate, ask for admission,
// decode the body under size caps, parse the envelope, keep the one event.
// Everything else (normalising, grouping, storing) is digest's job, and
// forwarding to an upstream Sentry-compatible server is the job of
// ingest/forward, which reads the same spool with a cursor of its own.
//
// # Endpoints
//
//	POST /api/{project_id}/envelope/   a Sentry envelope (the main path)
//	POST /api/{project_id}/store/      one event as a JSON object (older SDKs,
//	                                   sentry-python 1.x for errors)
//	POST /api/{project_id}/minidump/   a Breakpad/Crashpad/Electron minidump upload
//	                                   (multipart form; see handleMinidump)
//	OPTIONS on envelope and store      CORS preflight: 200, Access-Control-Max-Age: 3600
//
// Any other method on these paths gets 405. {project_id} must be a positive
// integer (else 404). Every response, errors included, carries
// Access-Control-Allow-Origin: * and the allowed methods and headers, since
// browser SDKs post cross-site; the DSN key is what authenticates them.
//
// # Authentication
//
// The project's public key is taken from, in this order: the sentry_key
// query parameter; the sentry_key of an "X-Sentry-Auth: Sentry k=v, k=v"
// header; for envelopes only, the user part of the envelope header's dsn.
// No key gives 403 "Unable to find authentication information"; a wrong key
// or unknown project gives 403 "Project not found or key incorrect: <DSN>".
// The key is compared in constant time.
//
// # Admission
//
// Once the key is known (before the body is read, or right after the
// envelope header line when the key is in its dsn) the Admitter is asked
// whether the project may send another event (quotas, disk), and then
// Memory reserves what the request is expected to hold: its event, from
// Content-Length (times 8 when compressed; the event cap when unknown),
// capped at MaxEventSize, plus 64 KiB. The reservation is released when the
// request is answered. Memory (budget.Limiter) refuses only in-flight work
// beyond the room the heap leaves, never a request that finds nothing in
// flight, so a large steady heap slows ingest down instead of refusing
// every event. A refusal is a *budget.AdmitError whose Reason is a
// sentinel (budget.ErrMemory, disk.ErrFull, quota.ErrProjectQuota,
// ...); the sentinel's text is the reason code on the wire and in the
// logs. Config.OnRefuse hears of every refusal, with its project and
// reason code (for the readiness check). If not admitted: 429 with Retry-After
// and X-Sentry-Rate-Limits (retry_after:categories:scope:reason_code): for
// the quota reasons "project_quota" and "org_quota" the error event
// categories, "<seconds>:error;default;security:<project|organization>:<reason>";
// for any other reason (memory) empty categories, meaning all of them,
// "<seconds>::organization:<reason>". The body is not read, except for an
// envelope over a quota: quotas count events, so its event items are read
// into the void and its other kept items (sessions, client reports) are
// spooled, with a 200 carrying the same X-Sentry-Rate-Limits; an envelope
// with nothing else gets the 429. Config.OnAccept is called for every
// event spooled, so quotas are counted at ingest.
//
// # Bodies
//
// Bodies may come with Content-Length or chunked, with any Content-Type or
// none. Content-Encoding may be gzip, deflate (zlib-wrapped or raw),
// br or zstd; identity or absent means none; anything else is 400. Brotli
// and zstd decoders (up to 16 MiB of state each) run at most two at a time.
// Two caps apply: the compressed one on the raw body (uncompressed bodies
// included), the other on the decoded bytes, so a decompression bomb stops
// as soon as it passes the cap:
//
//	                   raw body                  decoded
//	/store/            MaxEventCompressedSize    MaxEventSize (1 MiB)
//	                   (200 KiB)
//	/envelope/         MaxEnvelopeCompressedSize MaxEnvelopeSize (100 MiB);
//	                   (20 MiB)                  the event item: MaxEventSize
//
// Over a cap: 413 {"message": "Max length (<name>: <bytes>) exceeded"}.
// Corrupt compressed data: 400.
//
// The raw body is read into memory (up to 256 KiB, in a buffer that grows
// with the bytes received) before it is decoded, so a slow client holds no
// decoder or big-event slot while it sends that much. A body may take
// 10 s, then must keep up 2 KiB/s on average and never stall for 10 s; one
// address may have at most 8 uploads running longer than 2 s at once. A
// body that falls behind gets 408 and the connection is closed
// (slowbody.go). ConnLimiter caps the server's connections (conn.go).
//
// # Envelopes
//
// The envelope is parsed as it streams in: a header line (a JSON object of
// at most 8 KiB; {} is fine), then items, each an item header line (a JSON
// object of at most 8 KiB) and a payload that is exactly `length` bytes long
// when the header has a length (then followed by a newline or the end), or
// runs to the next newline or the end when it has none. CRLF line ends,
// blank lines between items and a last item without a newline are accepted.
//
// Item types: "event" items are kept, each as its own event. An event
// payload must be a JSON object (at most MaxEventSize bytes and 300 levels
// deep; bad UTF-8 inside strings is accepted and repaired by digest) or the
// request gets 400. "attachment" items with a length are streamed to disk
// (Config.Attachments) and kept with the envelope's last event; a minidump
// attachment (attachment_type event.minidump) without an event gets one
// made for it, other attachments without an event are dropped. Every other
// type (transaction, session, sessions, client_report, user_report,
// feedback, profile, profile_chunk,
// replay_*, check_in, log, span, statsd, trace_metric, unknown types) is
// read through the capped stream and dropped, and counted in
// Counters.Dropped. At most one event is ever held in memory: an event is
// written to the spool before the next event item is read, so when an
// envelope turns out malformed after its first events those stay stored
// and the reply is 400. An envelope holds at most MaxEnvelopeItems (100)
// items and 100 blank lines between them; the first item past that gets 413
// and the first blank line past that 400, without the rest being read.
//
// Malformed envelopes get 400 with a message saying what is wrong: a header
// that is not a JSON object, a line over 8 KiB, an item shorter than its
// length (truncated), bytes after an item other than a newline (a length
// that lies), an item header at the very end.
//
// # Dense events
//
// Ingest never builds a JSON tree of an event, whose cost grows with the
// number of values (fastjson: ~80 bytes each; 1 KB of gzip can carry
// 520,000 of them). It checks the payload's grammar and depth in one pass
// with an explicit stack (validJSON: no recursion, no allocation) and finds its top-level event_id with a byte scan that also
// counts its values. An event of more than rawevent.MaxValues (20,000) values
// is trimmed by digest's rule (rawevent.TrimDense: containers keep their first
// 1,000 entries and a marker) before it is spooled.
//
// # Event ids and replies
//
// The first event's id is the envelope header's event_id (32 hex digits or
// a dashed UUID, stored as 32 lowercase hex; invalid values and the nil UUID
// are ignored), else the event's own top-level event_id, else a new random
// UUID. A later event of the same envelope gets its own event_id, unless an
// earlier event has it (Android puts a Java and a native event under one
// id): then its id is derived from the first event's and its position
// (SHA-256, as a version 8 UUID), so that an envelope sent twice is stored
// once. Each event is appended to the spool with its id, and only once all
// are on disk does the reply go out: 200 {"id": "<first event's id>"}. An
// envelope without an event gets 200 {} (or {"id": ...} with the header's
// event_id). A spool failure gets 503; a panic, which should not happen,
// 500. All error bodies are JSON {"message": "..."}.
package ingest
