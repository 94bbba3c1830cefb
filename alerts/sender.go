package alerts

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tinysink/tinysink/internal/xsort"
	"github.com/tinysink/tinysink/store"
)

// DefaultEmailsPerHour is the installation-wide cap on alert emails.
const DefaultEmailsPerHour = 60

// DefaultMaxInFlight is how many deliveries run at once by default.
const DefaultMaxInFlight = 4

// DefaultTelegramAPI is the Telegram Bot API.
const DefaultTelegramAPI = "https://api.telegram.org"

// Retry says how often and for how long a delivery is tried. The wait
// before attempt n+1 is First·2^(n-1), at most Max, with jitter (a random
// point in its upper half). A delivery is given up after Attempts failed
// attempts, or after a failed attempt once its alert is MaxAge old, or at
// once when retrying cannot help (a 4xx reply other than 408/425/429, a
// redirect, a refused address, a 5xx SMTP reply). The defaults try 12
// times over about three hours.
type Retry struct {
	First    time.Duration // default 30 s
	Max      time.Duration // default 30 min
	Attempts int           // default 12
	MaxAge   time.Duration // default 24 h
}

func (r Retry) withDefaults() Retry {
	if r.First <= 0 {
		r.First = 30 * time.Second
	}
	if r.Max <= 0 {
		r.Max = 30 * time.Minute
	}
	if r.Max < r.First {
		r.Max = r.First
	}
	if r.Attempts <= 0 {
		r.Attempts = 12
	}
	if r.MaxAge <= 0 {
		r.MaxAge = 24 * time.Hour
	}
	return r
}

// backoff returns the wait after the n-th failed attempt.
func (r Retry) backoff(n int) time.Duration {
	d := r.First
	for i := 1; i < n && d < r.Max; i++ {
		d *= 2
	}
	d = min(d, r.Max)
	if d >= 2 {
		d = d/2 + rand.N(d/2+1)
	}
	return d
}

// Config configures a Sender.
type Config struct {
	DB *store.DB
	// BaseURL is where the UI is reached, for links ("https://t.example.org").
	BaseURL string
	// SMTP is the mail server; nil sends no email.
	SMTP *SMTP
	// EmailsPerHour caps alert emails installation-wide (0: 60; negative:
	// no cap). Emails over the cap are dropped and counted.
	EmailsPerHour int
	Log           *slog.Logger
	Outbound      OutboundPolicy
	// Now returns the current time; tests replace it. Default time.Now.
	Now func() time.Time
	// Retry is the retry schedule; zero fields take the defaults.
	Retry Retry
	// MaxInFlight bounds the deliveries made at once (default 4).
	MaxInFlight int
	// TelegramAPI is the Bot API's base URL (default DefaultTelegramAPI).
	TelegramAPI string
}

// Sender delivers the alerts outbox: email over SMTP and the messaging
// backends. Run is its goroutine; the JSON API (RegisterAPI) and SendTest
// may be used at the same time.
type Sender struct {
	db          *store.DB
	baseURL     string
	smtp        *SMTP
	perHour     int
	log         *slog.Logger
	now         func() time.Time
	retry       Retry
	maxInFlight int
	telegramAPI string
	client      *http.Client
	poke        chan struct{}
}

// New returns a Sender. Invalid Outbound list entries are logged and
// ignored (check them first with OutboundPolicy.Validate).
func New(cfg Config) *Sender {
	s := &Sender{
		db:          cfg.DB,
		baseURL:     strings.TrimRight(cfg.BaseURL, "/"),
		smtp:        cfg.SMTP,
		perHour:     cfg.EmailsPerHour,
		log:         cfg.Log,
		now:         cfg.Now,
		retry:       cfg.Retry.withDefaults(),
		maxInFlight: cfg.MaxInFlight,
		telegramAPI: strings.TrimRight(cmp.Or(cfg.TelegramAPI, DefaultTelegramAPI), "/"),
		poke:        make(chan struct{}, 1),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.perHour == 0 {
		s.perHour = DefaultEmailsPerHour
	}
	if s.maxInFlight <= 0 {
		s.maxInFlight = DefaultMaxInFlight
	}
	v, err := newVetter(cfg.Outbound)
	if err != nil {
		s.log.Warn("ignoring invalid outbound policy entries", "err", err)
	}
	s.client = newClient(v)
	return s
}

// Poke wakes Run to look at the outbox now. It never blocks; the digest
// calls it after each batch that enqueued alerts.
func (s *Sender) Poke() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

// finished is a delivery goroutine's report to Run.
type finished struct {
	dest string
	err  error // recording the result in the store failed
}

// storeHold is how long a destination rests after its result could not
// be recorded, so a broken store does not make Run resend in a loop.
const storeHold = time.Minute

// Run delivers the outbox until ctx is done, then waits for the
// deliveries in flight (which ctx also cancels; an interrupted delivery
// stays in the outbox as it was) and returns ctx.Err(). Each destination gets its own
// goroutine, at most MaxInFlight at once, and its deliveries go one at a
// time in the order they were enqueued; among due destinations, those with
// fewer failed attempts go first, so a dead endpoint's retries do not hold
// up fresh alerts. Start at most one Run per store.
func (s *Sender) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	done := make(chan finished, s.maxInFlight)
	busy := map[string]bool{}
	hold := map[string]time.Time{}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := s.dispatch(ctx, busy, hold, &wg, done)
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.poke:
		case <-timer.C:
		case f := <-done:
			s.finish(f, busy, hold)
		}
	drain:
		for {
			select {
			case f := <-done:
				s.finish(f, busy, hold)
			default:
				break drain
			}
		}
	}
}

func (s *Sender) finish(f finished, busy map[string]bool, hold map[string]time.Time) {
	delete(busy, f.dest)
	if f.err != nil {
		s.log.Error("recording an alert delivery failed", "destination", f.dest, "err", f.err)
		hold[f.dest] = s.now().Add(storeHold)
	}
}

// dispatch starts the due deliveries it has room for and returns how long
// Run may sleep before the next one is due.
func (s *Sender) dispatch(ctx context.Context, busy map[string]bool, hold map[string]time.Time, wg *sync.WaitGroup, done chan<- finished) time.Duration {
	const idle = time.Hour // nothing waits: sleep until poked
	outbox, err := s.db.Outbox()
	if err != nil {
		s.log.Error("reading the alerts outbox failed", "err", err)
		return 10 * time.Second
	}
	now := s.now()
	for dest, until := range hold {
		if !until.After(now) {
			delete(hold, dest)
		}
	}
	wait := time.Duration(idle)
	seen := map[string]bool{}
	var due []store.Delivery
	for _, d := range outbox {
		dest := d.Destination()
		if seen[dest] {
			continue // only the oldest delivery of a destination goes
		}
		seen[dest] = true
		if busy[dest] {
			continue
		}
		at := d.NextAttempt
		if h, ok := hold[dest]; ok && h.After(at) {
			at = h
		}
		if at.After(now) {
			wait = min(wait, at.Sub(now))
			continue
		}
		due = append(due, d)
	}
	xsort.SortStableFunc(due, func(a, b store.Delivery) int {
		return cmp.Or(cmp.Compare(a.Attempts, b.Attempts), cmp.Compare(a.ID, b.ID))
	})
	for _, d := range due {
		if len(busy) >= s.maxInFlight {
			break // a delivery that finishes wakes Run
		}
		dest := d.Destination()
		busy[dest] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.deliverSafely(ctx, d)
			done <- finished{dest: dest, err: err}
		}()
	}
	return wait
}

func (s *Sender) deliverSafely(ctx context.Context, d store.Delivery) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic delivering alert %d: %v", d.ID, r)
		}
	}()
	return s.deliver(ctx, d)
}

// deliver makes one attempt at d and records the outcome. The success is
// recorded only after the receiver accepted the message: if tinysink
// stops in between, the message is sent again after the restart.
func (s *Sender) deliver(ctx context.Context, d store.Delivery) error {
	out := s.attempt(ctx, &d)
	if out.failure != nil && ctx.Err() != nil {
		return nil // shutting down: try again after the restart
	}
	log := s.log.With("delivery", d.ID, "destination", d.Destination(), "project_id", d.Alert.Project, "issue_id", d.Alert.Issue)
	now := s.now()
	switch {
	case out.drop:
		return s.db.DeliveryGiveUp(d.ID, nil)
	case out.failure == nil:
		log.Debug("alert delivered", "reason", d.Alert.Reason)
		return s.db.DeliveryDone(d.ID, now)
	}
	n := d.Attempts + 1
	if out.permanent || n >= s.retry.Attempts || now.Sub(d.Alert.CreatedAt) >= s.retry.MaxAge {
		log.Warn("alert not delivered; giving up", "attempts", n, "err", describe(out.failure))
		return s.db.DeliveryGiveUp(d.ID, out.failure)
	}
	wait := min(max(s.retry.backoff(n), out.retryAfter), s.retry.Max)
	log.Info("alert delivery failed; will retry", "attempts", n, "retry_in", wait.Round(time.Millisecond), "err", describe(out.failure))
	return s.db.DeliveryRetry(d.ID, *out.failure, now.Add(wait))
}

func describe(f *store.Failure) string {
	if f.Error != "" {
		return f.Error
	}
	return "HTTP status " + strconv.Itoa(f.Status)
}

func (s *Sender) attempt(ctx context.Context, d *store.Delivery) outcome {
	storeFailure := func(err error) outcome {
		return outcome{failure: &store.Failure{At: s.now(), Error: "read store: " + err.Error()}}
	}
	p, err := s.db.Project(d.Alert.Project)
	if errors.Is(err, store.ErrNotFound) {
		return outcome{drop: true}
	} else if err != nil {
		return storeFailure(err)
	}
	iss, err := s.db.Issue(d.Alert.Issue)
	if errors.Is(err, store.ErrNotFound) {
		return outcome{drop: true}
	} else if err != nil {
		return storeFailure(err)
	}
	m := s.newMessage(p, iss, &d.Alert)
	if d.Backend == 0 {
		return s.sendEmail(ctx, d, m)
	}
	b, err := s.db.AlertBackend(d.Backend)
	if errors.Is(err, store.ErrNotFound) {
		return outcome{drop: true}
	} else if err != nil {
		return storeFailure(err)
	}
	key := "tinysink-" + strconv.FormatUint(d.ID, 10) + "-" + strconv.FormatInt(d.Alert.CreatedAt.Unix(), 10)
	return s.sendBackend(ctx, b, m, key)
}

// SendTest sends the backend's fixed test message now and records the
// outcome on the backend. It returns the failure, or nil when the message
// was accepted; the error is for a backend or project that cannot be read.
func (s *Sender) SendTest(ctx context.Context, backend uint32) (*store.Failure, error) {
	b, err := s.db.AlertBackend(backend)
	if err != nil {
		return nil, err
	}
	p, err := s.db.Project(b.Project)
	if err != nil {
		return nil, err
	}
	out := s.sendBackend(ctx, b, s.testMessage(p), "tinysink-test-"+strconv.FormatInt(s.now().UnixNano(), 10))
	if err := s.db.RecordBackendResult(b.ID, out.failure, s.now()); err != nil {
		return nil, err
	}
	return out.failure, nil
}
