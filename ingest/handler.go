package ingest

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tinysink/tinysink/ingest/ratelog"
	"github.com/tinysink/tinysink/ingest/spool"
	"github.com/tinysink/tinysink/store/attach"
)

// Projects looks up a project's public (DSN) key.
type Projects interface {
	ProjectKey(id int) (key string, ok bool)
}

// Admitter decides, before the body is read, whether the installation can
// take another event for project (disk, spool, quotas). It returns nil to
// admit, or a *budget.AdmitError: its RetryAfter says when to try again
// (at least 1s is sent) and the text of its Reason (a sentinel such as
// disk.ErrFull or quota.ErrProjectQuota) is the reason_code of
// X-Sentry-Rate-Limits. Any other error refuses with itself as the reason.
type Admitter interface {
	Admit(project int) error
}

// Memory admits requests by the memory they are about to hold
// (budget.Limiter): Reserve is asked, after the Admitter, with a request's
// expected cost, and release is called once the request is answered.
type Memory interface {
	Reserve(cost int64) (release func(), ok bool, retryAfter time.Duration)
}

// Config configures a Handler. Projects and Spool are required.
type Config struct {
	Projects Projects
	Admit    Admitter // nil: always admit
	// ItemQuota, when set, counts an envelope's transactions, sessions
	// and check-ins per category (quota.Quota.TakeItem): an item over its
	// category's limit is dropped and named in X-Sentry-Rate-Limits.
	ItemQuota interface {
		TakeItem(project int, category string) error
	}
	Memory Memory // nil: no memory admission
	Spool  *spool.Spool
	// Attachments, when set, keeps envelope attachment items and the
	// dumps of /minidump/ on disk; nil: attachments are dropped and
	// /minidump/ answers 404.
	Attachments *attach.Store
	Logger      *slog.Logger // nil: discard
	// BaseURL is the server's public URL, e.g. "http://127.0.0.1:8000",
	// used to rebuild the DSN in the text of a 403. Empty: taken from the
	// request's Host.
	BaseURL string
	// TrustProxy takes the client address from X-Real-IP, else from the
	// last hop of X-Forwarded-For. Set it only behind a reverse proxy that
	// sets these headers.
	TrustProxy bool

	// Size limits in bytes; 0 means the default. The compressed limits
	// apply to the raw request body (so also to uncompressed bodies), the
	// others to the decoded body; MaxEventSize also caps the event item of
	// an envelope.
	MaxEventSize              int64 // default 1 MiB
	MaxEventCompressedSize    int64 // default 200 KiB
	MaxEnvelopeSize           int64 // default 100 MiB
	MaxEnvelopeCompressedSize int64 // default 20 MiB

	Now func() time.Time // nil: time.Now

	// OnAccept, when set, is called once for every event written to the
	// spool, e.g. to count it against a quota.
	OnAccept func(project int)
	// OnRefuse, when set, is called for every request that admission
	// refused (429 or 507), with its project and the reason code (the
	// text of the refusal's reason: "memory", "project_quota", "org_quota",
	// "disk_full", ...).
	OnRefuse func(project int, reason string)
	// OnRelease, when set, is called once for every request that Admit
	// admitted but that ended without an event in the spool (refused
	// later, or an envelope without an event), so that an admission check
	// holding a place per admitted request can give it back.
	OnRelease func(project int)
}

// Default size limits (Bugsink's).
const (
	DefaultMaxEventSize              = 1 << 20
	DefaultMaxEventCompressedSize    = 200 << 10
	DefaultMaxEnvelopeSize           = 100 << 20
	DefaultMaxEnvelopeCompressedSize = 20 << 20
)

// Counters are running totals of what the handler did with requests.
type Counters struct {
	Accepted         int64 // events written to the spool
	RefusedAuth      int64 // 403: no key, wrong key or unknown project
	RefusedSize      int64 // 413: a size limit was exceeded
	RefusedMalformed int64 // 400: bad encoding, envelope or event JSON
	RefusedAdmission int64 // 429: Admit said no
	// Dropped counts envelope items read and discarded: every item that is
	// not an event and not kept (items.go), and kept items that are not JSON.
	Dropped int64
	// Items counts kept items that are not events (check-ins,
	// transactions, spans, feedback, sessions, client reports) written to
	// the spool.
	Items int64
	// MalformedItems counts envelope items dropped as malformed or too
	// large from envelopes whose other items were stored.
	MalformedItems int64
}

// Handler serves the Sentry ingest endpoints. Create it with New and mount
// it with Register.
type Handler struct {
	projects  Projects
	admit     Admitter
	itemQuota interface {
		TakeItem(project int, category string) error
	}
	memory     Memory
	onAccept   func(project int)
	onRefuse   func(project int, reason string)
	onRelease  func(project int)
	spool      *spool.Spool
	attach     *attach.Store
	log        *slog.Logger
	refusals   *ratelog.Limiter // a line per refusal reason and project per minute
	baseURL    string
	trustProxy bool
	now        func() time.Time

	event    limit // the event payload (store body, envelope event item)
	store    limits
	envelope limits

	slow slowUploads // slow uploads in progress per source

	accepted, refusedAuth, refusedSize, refusedMalformed, refusedAdmission, dropped atomic.Int64
	items, malformedItems                                                           atomic.Int64 // kept items that are not events (items.go)
}

// limit is one size limit and the name it is reported under.
type limit struct {
	n    int64
	name string
}

// limits are the caps on one endpoint's body.
type limits struct {
	raw, decoded limit
}

// New returns a Handler for cfg.
func New(cfg Config) *Handler {
	h := &Handler{
		projects:   cfg.Projects,
		admit:      cfg.Admit,
		itemQuota:  cfg.ItemQuota,
		memory:     cfg.Memory,
		onAccept:   cfg.OnAccept,
		onRefuse:   cfg.OnRefuse,
		onRelease:  cfg.OnRelease,
		spool:      cfg.Spool,
		attach:     cfg.Attachments,
		log:        cfg.Logger,
		baseURL:    cfg.BaseURL,
		trustProxy: cfg.TrustProxy,
		now:        cfg.Now,
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.refusals = ratelog.New(h.log, ratelog.DefaultEvery, h.now)
	orDefault := func(n, def int64) int64 {
		if n > 0 {
			return n
		}
		return def
	}
	h.event = limit{orDefault(cfg.MaxEventSize, DefaultMaxEventSize), "MaxEventSize"}
	h.store = limits{
		raw:     limit{orDefault(cfg.MaxEventCompressedSize, DefaultMaxEventCompressedSize), "MaxEventCompressedSize"},
		decoded: h.event,
	}
	h.envelope = limits{
		raw:     limit{orDefault(cfg.MaxEnvelopeCompressedSize, DefaultMaxEnvelopeCompressedSize), "MaxEnvelopeCompressedSize"},
		decoded: limit{orDefault(cfg.MaxEnvelopeSize, DefaultMaxEnvelopeSize), "MaxEnvelopeSize"},
	}
	return h
}

// Counters returns the running totals.
func (h *Handler) Counters() Counters {
	return Counters{
		Accepted:         h.accepted.Load(),
		RefusedAuth:      h.refusedAuth.Load(),
		RefusedSize:      h.refusedSize.Load(),
		RefusedMalformed: h.refusedMalformed.Load(),
		RefusedAdmission: h.refusedAdmission.Load(),
		Dropped:          h.dropped.Load(),
		Items:            h.items.Load(),
		MalformedItems:   h.malformedItems.Load(),
	}
}
