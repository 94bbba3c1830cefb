package ui

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tinysink/tinysink/store"
)

// route is one UI route with a concrete path, for the auth tests.
type route struct{ method, path string }

func allRoutes(pid int, iid, bid uint32) []route {
	p := fmt.Sprintf("/projects/%d/", pid)
	i := fmt.Sprintf("/issues/%d/", iid)
	b := fmt.Sprintf("%salerts/%d/", p, bid)
	return []route{
		{"GET", "/accounts/"}, {"POST", "/accounts/alerts/"},
		{"GET", "/accounts/password/"}, {"POST", "/accounts/password/"},
		{"GET", "/users/"}, {"POST", "/users/"}, {"POST", "/users/user/"},
		{"GET", "/projects/"}, {"GET", "/projects/new/"}, {"POST", "/projects/new/"},
		{"GET", p}, {"POST", p + "issues/"}, {"GET", p + "settings/"}, {"POST", p + "settings/"},
		{"POST", p + "quota/"}, {"POST", p + "scrubbing/"},
		{"GET", p + "alerts/new/?kind=webhook"}, {"POST", p + "alerts/new/"},
		{"GET", b}, {"POST", b}, {"POST", b + "delete/"}, {"POST", b + "test/"},
		{"GET", p + "members/"}, {"POST", p + "members/"},
		{"GET", i}, {"GET", i + "event/last/"}, {"GET", i + "event/last/details/"}, {"GET", i + "event/last/breadcrumbs/"},
		{"GET", i + "event/last/json/"}, {"GET", i + "event/last/download/"}, {"GET", i + "event/last/md/"},
		{"GET", i + "events/"}, {"GET", i + "tags/"}, {"GET", i + "grouping/"}, {"GET", i + "history/"},
		{"POST", i + "action/"}, {"POST", i + "comment/"}, {"GET", i + "delete/"}, {"POST", i + "delete/"},
		{"POST", i + "assign/"}, {"POST", i + "comment/1/edit/"}, {"POST", i + "comment/1/delete/"},
		{"GET", "/issues/"}, {"POST", "/issues/"},
		{"GET", "/debug/budget/"},
		{"GET", "/users/user/delete/"}, {"POST", "/users/user/delete/"}, {"POST", "/users/invites/"},
		{"POST", "/users/invites/0123456789abcdef/revoke/"},
		{"GET", "/tokens/"}, {"POST", "/tokens/"}, {"POST", "/tokens/0123456789abcdef/revoke/"},
		{"GET", "/teams/"}, {"POST", "/teams/"}, {"GET", "/teams/web/"}, {"POST", "/teams/web/"},
		{"GET", p + "delete/"}, {"POST", p + "delete/"},
	}
}

// addBackend gives project pid a webhook backend pointing at a closed
// port.
func addBackend(t *testing.T, s *testServer, pid int) *store.AlertBackend {
	t.Helper()
	b := &store.AlertBackend{Project: pid, Kind: store.BackendWebhook, Name: "hook", Config: map[string]string{"webhook_url": "http://127.0.0.1:1/hook"}}
	if err := s.db.CreateAlertBackend(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// unchanged fails the test if a refused request changed the issue, the
// user, the project's settings or its backend.
func unchanged(t *testing.T, s *testServer, pid int, iid, bid uint32) {
	t.Helper()
	if got, err := s.db.Issue(iid); err != nil || got.IsResolved || got.AssignedTo != "" {
		t.Error("a refused request resolved, assigned or deleted the issue")
	}
	if u, _ := s.db.User("user"); !u.Active {
		t.Error("a refused request deactivated a user")
	}
	if p, _ := s.db.Project(pid); p.Quota != nil || p.Scrub.Off {
		t.Errorf("a refused request changed quota or scrubbing: %+v %+v", p.Quota, p.Scrub)
	}
	if b, err := s.db.AlertBackend(bid); err != nil || b.Name != "hook" || b.LastFailure != nil {
		t.Errorf("a refused request changed, tested or deleted the backend: %+v, %v", b, err)
	}
	for _, name := range []string{"admin", "user"} {
		if on, _ := s.db.EmailAlerts(name, pid); !on {
			t.Errorf("a refused request turned off %s's email alerts", name)
		}
	}
}

func TestEveryRouteNeedsASession(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.ingest(t, s.project.ID, []byte(`{"message":"hello"}`))
	iss := s.issues(t, s.project.ID)[0]
	b := addBackend(t, s, s.project.ID)
	form := url.Values{"action": {"resolve"}, "comment": {"x"}, "name": {"p2"}, "op": {"deactivate"}, "confirm": {"yes"}, "per_hour": {"1"}, "extra_keys": {"x"}, "user": {"admin"}}
	bogus := &http.Cookie{Name: sessionCookie, Value: strings.Repeat("ab", 32)}
	for _, cookie := range []*http.Cookie{nil, bogus} {
		for _, rt := range allRoutes(s.project.ID, iss.ID, b.ID) {
			var f url.Values
			if rt.method == "POST" {
				f = form
			}
			rec := s.do(rt.method, rt.path, f, cookie)
			switch rt.method {
			case "GET":
				loc := rec.Header().Get("Location")
				if rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/accounts/login/?next=") {
					t.Errorf("GET %s without a session: %d to %q, want a redirect to the login page", rt.path, rec.Code, loc)
				}
			default:
				if rec.Code != http.StatusUnauthorized {
					t.Errorf("POST %s without a session: %d, want 401", rt.path, rec.Code)
				}
			}
		}
	}
	unchanged(t, s, s.project.ID, iss.ID, b.ID)
	// The login page and the static files are open.
	for _, p := range []string{"/accounts/login/", "/static/style.css", "/static/copy.js"} {
		if rec := s.do("GET", p, nil, nil); rec.Code != http.StatusOK {
			t.Errorf("GET %s: %d", p, rec.Code)
		}
	}
}

func TestPlainUsersSeeOnlyTheirProjects(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	other, err := s.db.CreateProject("Other")
	if err != nil {
		t.Fatal(err)
	}
	s.ingest(t, s.project.ID, []byte(`{"message":"mine"}`))
	s.ingest(t, other.ID, []byte(`{"message":"theirs"}`))
	if err := s.db.SetUserProjects("user", []int{s.project.ID}); err != nil {
		t.Fatal(err)
	}
	user := s.login(t, "user")
	theirs := s.issues(t, other.ID)[0]
	b := addBackend(t, s, other.ID)
	for _, rt := range allRoutes(other.ID, theirs.ID, b.ID) {
		if strings.HasPrefix(rt.path, "/accounts/") || rt.path == "/projects/" || rt.path == "/issues/" {
			continue // the user's own pages and lists (the lists' bulk form is checked below)
		}
		var f url.Values
		if rt.method == "POST" {
			f = url.Values{"action": {"resolve"}, "issue": {fmt.Sprint(theirs.ID)}, "comment": {"x"}, "op": {"deactivate"}, "name": {"x"}, "user": {"admin"},
				"confirm": {"yes"}, "per_hour": {"1"}, "kind": {"webhook"}, "webhook_url": {"http://127.0.0.1:1/x"}}
		}
		rec := s.do(rt.method, rt.path, f, user)
		if rec.Code != http.StatusNotFound && rec.Code != http.StatusForbidden {
			t.Errorf("%s %s as a user without the project: %d, want 403 or 404", rt.method, rt.path, rec.Code)
		}
	}
	unchanged(t, s, other.ID, theirs.ID, b.ID)
	body := s.do("GET", "/projects/", nil, user).Body.String()
	if strings.Contains(body, "Other") || !strings.Contains(body, "Shop") {
		t.Error("the project list shows a project not granted, or hides a granted one")
	}
	// Bulk actions ignore issues of other projects.
	mine := s.issues(t, s.project.ID)[0]
	rec := s.do("POST", fmt.Sprintf("/projects/%d/issues/", s.project.ID),
		url.Values{"action": {"mute"}, "issue": {fmt.Sprint(mine.ID), fmt.Sprint(theirs.ID)}}, user)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("bulk mute: %d", rec.Code)
	}
	if got, _ := s.db.Issue(theirs.ID); got.IsMuted {
		t.Error("a bulk action reached an issue of another project")
	}
	if got, _ := s.db.Issue(mine.ID); !got.IsMuted {
		t.Error("the bulk action did not mute the user's issue")
	}
}

func TestCrossOriginPostsAreRefused(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.ingest(t, s.project.ID, []byte(`{"message":"hello"}`))
	iss := s.issues(t, s.project.ID)[0]
	b := addBackend(t, s, s.project.ID)
	admin := s.login(t, "admin")
	target := fmt.Sprintf("/issues/%d/action/", iss.ID)
	form := url.Values{"action": {"resolve"}, "confirm": {"yes"}, "per_hour": {"1"}, "name": {"x"}, "kind": {"webhook"}, "webhook_url": {"http://127.0.0.1:1/x"}, "user": {"admin"}}
	for _, hdr := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Origin", "http://evil.example"},
	} {
		rec := s.do("POST", target, form, admin, hdr...)
		if rec.Code != http.StatusForbidden {
			t.Errorf("POST with %s: %s: %d, want 403", hdr[0], hdr[1], rec.Code)
		}
	}
	for _, rt := range allRoutes(s.project.ID, iss.ID, b.ID) {
		if rt.method != "POST" {
			continue
		}
		if rec := s.do("POST", rt.path, form, admin, "Sec-Fetch-Site", "cross-site"); rec.Code != http.StatusForbidden {
			t.Errorf("cross-site POST %s: %d, want 403", rt.path, rec.Code)
		}
	}
	inv, _, _ := s.db.CreateInvite("admin", true, nil, "", time.Hour)
	reset, _ := s.db.CreatePasswordReset("user", time.Hour)
	for _, p := range []string{"/accounts/login/", "/accounts/logout/", "/accounts/reset/", "/accounts/invite/" + inv + "/", "/accounts/reset/" + reset + "/"} {
		f := url.Values{"name": {"admin"}, "password": {testPassword}, "password2": {testPassword}}
		if rec := s.do("POST", p, f, nil, "Sec-Fetch-Site", "cross-site"); rec.Code != http.StatusForbidden {
			t.Errorf("cross-site POST %s: %d, want 403", p, rec.Code)
		}
	}
	unchanged(t, s, s.project.ID, iss.ID, b.ID)
	if _, err := s.db.Invite(inv); err != nil {
		t.Error("a cross-site post used the invite")
	}
	if _, err := s.db.PasswordResetUser(reset); err != nil || len(s.sent()) != 0 {
		t.Error("a cross-site post used the reset link or sent a reset email")
	}
	if _, err := s.db.User("user"); err != nil {
		t.Error("a cross-site post deleted the user")
	}
	if toks, _ := s.db.ListTokens(); len(toks) != 0 {
		t.Error("a cross-site post made a token")
	}
	if bs, _ := s.db.AlertBackends(s.project.ID); len(bs) != 1 {
		t.Errorf("a cross-site post created a backend: %d backends", len(bs))
	}
	// The same post from the same origin goes through.
	rec := s.do("POST", target, form, admin, "Sec-Fetch-Site", "same-origin", "Origin", "http://example.com")
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("same-origin POST: %d", rec.Code)
	}
	if got, _ := s.db.Issue(iss.ID); !got.IsResolved {
		t.Error("the same-origin post did not resolve the issue")
	}
}

func TestLoginLogoutAndCookie(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	rec := s.do("POST", "/accounts/login/", url.Values{"name": {"admin"}, "password": {testPassword}, "next": {"https://evil.example/"}}, nil)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/projects/" {
		t.Errorf("login with a foreign next: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	c := rec.Result().Cookies()[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure || c.Path != "/" || c.MaxAge <= 0 {
		t.Errorf("session cookie = %+v", c)
	}
	if rec := s.do("GET", "/projects/", nil, c); rec.Code != http.StatusOK {
		t.Fatalf("with the cookie: %d", rec.Code)
	}
	rec = s.do("POST", "/accounts/logout/", url.Values{}, c)
	if rec.Code != http.StatusSeeOther {
		t.Errorf("logout: %d", rec.Code)
	}
	if rec := s.do("GET", "/projects/", nil, c); rec.Code != http.StatusSeeOther {
		t.Errorf("the old cookie still works after logout: %d", rec.Code)
	}
	rec = s.do("POST", "/accounts/login/", url.Values{"name": {"admin"}, "password": {"wrong"}}, nil)
	if rec.Code != http.StatusUnauthorized || len(rec.Result().Cookies()) != 0 || !strings.Contains(rec.Body.String(), "Wrong user name or password") {
		t.Errorf("wrong password: %d, cookies %v", rec.Code, rec.Result().Cookies())
	}

	// Over https the cookie is Secure.
	u := New(Config{DB: s.db, BaseURL: "https://errors.example.com"})
	mux := http.NewServeMux()
	u.Register(mux)
	s.mux = mux
	rec = s.do("POST", "/accounts/login/", url.Values{"name": {"admin"}, "password": {testPassword}}, nil)
	if c := rec.Result().Cookies(); len(c) != 1 || !c[0].Secure {
		t.Errorf("https cookie = %+v", c)
	}
}

// loginFrom posts a login for name from the client address addr (host:port).
func (s *testServer) loginFrom(addr, name, password string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", "/accounts/login/", strings.NewReader(url.Values{"name": {name}, "password": {password}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = addr
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	s.mux.ServeHTTP(rec, r)
	return rec
}

// A login check refused by the limiter is a 429; one that was checked is a
// 303 (right password) or a 401 (wrong one).
const (
	loggedIn = http.StatusSeeOther
	wrongPW  = http.StatusUnauthorized
	limited  = http.StatusTooManyRequests
)

// TestLoginAttackerCannotLockOutAdmin is the lockout scenario: an attacker
// on 10.0.0.1 guesses the admin's password for hours, one request a
// minute after its first burst; the admin, on another address, logs in
// every time, while the attacker's own address is refused.
func TestLoginAttackerCannotLockOutAdmin(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	now := time.Now()
	s.ui.now = func() time.Time { return now }
	const attacker, admin = "10.0.0.1:4000", "192.0.2.50:5000"
	for i := 0; i < 30; i++ {
		s.loginFrom(attacker, "admin", fmt.Sprint("guess", i))
	}
	if code := s.loginFrom(attacker, "admin", "guess").Code; code != limited {
		t.Errorf("attacker after 30 guesses: %d, want %d", code, limited)
	}
	// Even the right password is not checked from the limited address.
	if rec := s.loginFrom(attacker, "admin", testPassword); rec.Code != limited || rec.Header().Get("Retry-After") == "" {
		t.Errorf("right password from the limited address: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	for minute := 0; minute < 180; minute++ {
		now = now.Add(time.Minute)
		s.loginFrom(attacker, "admin", "guess")
		if minute%30 == 0 {
			if code := s.loginFrom(admin, "admin", testPassword).Code; code != loggedIn {
				t.Fatalf("minute %d: admin from another address: %d, want %d", minute, code, loggedIn)
			}
		}
	}
	if code := s.loginFrom(attacker, "admin", testPassword).Code; code != limited {
		t.Errorf("attacker's address after 3 hours of one guess a minute: %d, want %d", code, limited)
	}
	// Another user from a third address is not affected either.
	if code := s.loginFrom("198.51.100.7:1", "user", testPassword).Code; code != loggedIn {
		t.Errorf("other user: %d", code)
	}
}

// TestLoginAddressBackoffDoubles: an address gets addrFreeFails guesses,
// then waits addrBaseWait, then twice that after its next wrong guess.
// (The limiter alone: every guess through the handler costs a bcrypt.)
func TestLoginAddressBackoffDoubles(t *testing.T) {
	t.Parallel()
	l := newLoginLimiter()
	now := time.Now()
	const addr = "10.0.0.1"
	for i := 0; i < addrFreeFails; i++ {
		if w := l.wait(addr, "nobody", now); w != 0 {
			t.Fatalf("guess %d: wait %v", i+1, w)
		}
		l.failed(addr, "nobody", now)
	}
	for _, want := range []time.Duration{addrBaseWait, 2 * addrBaseWait, 4 * addrBaseWait} {
		if w := l.wait(addr, "nobody", now); w != want {
			t.Fatalf("wait %v, want %v", w, want)
		}
		now = now.Add(want)
		if w := l.wait(addr, "nobody", now); w != 0 {
			t.Fatalf("after a %v wait: still %v", want, w)
		}
		l.failed(addr, "nobody", now)
	}
	for i := 0; i < 20; i++ {
		l.failed(addr, "nobody", now)
	}
	if w := l.wait(addr, "nobody", now); w != addrMaxWait {
		t.Errorf("wait after many guesses %v, want the cap %v", w, addrMaxWait)
	}
	// A quiet hour after the wait forgets the address.
	now = now.Add(addrMaxWait + failForget)
	if w := l.wait(addr, "nobody", now); w != 0 || l.addr.get(addrKey(addr), now) != nil {
		t.Errorf("forgotten address: wait %v", w)
	}
}

// TestLoginBruteForceAcrossAddresses: guesses spread over many addresses
// are slowed by the account's backoff, yet the admin on a clean address
// still gets in.
func TestLoginBruteForceAcrossAddresses(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	now := time.Now()
	s.ui.now = func() time.Time { return now }
	// 10 addresses that have each failed addrCleanFails times already.
	var addrs []string
	for i := 0; i < 10; i++ {
		addrs = append(addrs, fmt.Sprintf("10.1.0.%d:80", i))
		for j := 0; j < addrCleanFails; j++ {
			s.ui.limits.failed(fmt.Sprintf("10.1.0.%d", i), "admin", now)
		}
	}
	// Then a quarter of an hour of one request per second, round robin.
	// Count the guesses that were checked.
	checked := 0
	const period = 15 * time.Minute
	for sec := 0; sec < int(period/time.Second); sec++ {
		now = now.Add(time.Second)
		if s.loginFrom(addrs[sec%len(addrs)], "admin", "guess").Code == wrongPW {
			checked++
		}
		if sec%400 == 0 {
			if code := s.loginFrom("192.0.2.50:5000", "admin", testPassword).Code; code != loggedIn {
				t.Fatalf("second %d: admin from a clean address: %d", sec, code)
			}
		}
	}
	// At most about one per acctMaxWait once the backoff is at its cap.
	if max := int(period/acctMaxWait) + 5; checked > max {
		t.Errorf("%d guesses checked in %v across %d addresses, want at most %d", checked, period, len(addrs), max)
	}
	if checked == 0 {
		t.Error("no guess was checked at all: the account is locked, not slowed")
	}
}

func TestLoginTrustProxy(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	now := time.Now()
	s.ui.now = func() time.Time { return now }
	for i := 0; i < addrFreeFails; i++ {
		s.ui.limits.failed("10.0.0.1", "nobody", now)
		s.ui.limits.failed("203.0.113.9", "nobody", now)
	}
	// Without TrustProxy a forged X-Forwarded-For changes nothing: the
	// connection's address is limited.
	if code := s.loginFrom("10.0.0.1:1", "admin", testPassword, "X-Forwarded-For", "203.0.113.200").Code; code != limited {
		t.Errorf("forged X-Forwarded-For escaped the limit: %d", code)
	}
	// With it, the last entry (the one our proxy added) is the client.
	s.ui.trustProxy = true
	if code := s.loginFrom("127.0.0.1:1", "admin", testPassword, "X-Forwarded-For", "1.1.1.1, 203.0.113.9").Code; code != limited {
		t.Errorf("client behind the proxy not limited: %d", code)
	}
	if code := s.loginFrom("10.0.0.1:1", "admin", testPassword, "X-Forwarded-For", "203.0.113.9, 203.0.113.10").Code; code != loggedIn {
		t.Errorf("another client behind the same proxy: %d", code)
	}
}

func TestLoginIPv6CountsBy64(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
		{"192.0.2.1", "192.0.2.1"},
		{"not an address", "not an address"},
	} {
		if got := addrKey(tt.in); got != tt.want {
			t.Errorf("addrKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	s := newTestServer(t)
	now := time.Now()
	s.ui.now = func() time.Time { return now }
	for i := 0; i < addrFreeFails; i++ {
		s.ui.limits.failed(fmt.Sprintf("2001:db8:1:2::%x", i+1), "nobody", now)
	}
	if code := s.loginFrom("[2001:db8:1:2:ffff::1]:1", "admin", testPassword).Code; code != limited {
		t.Errorf("same /64: %d, want %d", code, limited)
	}
	if code := s.loginFrom("[2001:db8:1:3::1]:1", "admin", testPassword).Code; code != loggedIn {
		t.Errorf("another /64: %d", code)
	}
}

func TestChangePasswordGuessesAreLimited(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	now := time.Now()
	s.ui.now = func() time.Time { return now }
	c := s.login(t, "admin")
	for i := 0; i < addrFreeFails-1; i++ {
		s.ui.limits.failed("192.0.2.1", "admin", now) // httptest's address
	}
	form := url.Values{"old": {"guess"}, "new": {"newpassword1"}, "new2": {"newpassword1"}}
	if code := s.do("POST", "/accounts/password/", form, c).Code; code != http.StatusBadRequest {
		t.Errorf("wrong current password: %d", code)
	}
	if code := s.do("POST", "/accounts/password/", form, c).Code; code != limited {
		t.Errorf("wrong current password %d times: %d, want %d", addrFreeFails+1, code, limited)
	}
}

func TestLoginLimiterIsBounded(t *testing.T) {
	t.Parallel()
	l := newLoginLimiter()
	now := time.Now()
	for i := 0; i < 3*maxLimitEntries; i++ {
		l.failed(fmt.Sprint("10.9.", i/256, ".", i%256), fmt.Sprint("name", i), now)
	}
	if l.addr.lru.Len() > maxLimitEntries || len(l.addr.m) > maxLimitEntries || len(l.acct.m) > maxLimitEntries {
		t.Errorf("limiter tables grew to %d and %d", len(l.addr.m), len(l.acct.m))
	}
	// The address under attack keeps failing, so it stays in the table
	// however many others come and go.
	for i := 0; i < 3*maxLimitEntries; i++ {
		l.failed(fmt.Sprint("10.8.", i/256, ".", i%256), "x", now)
		if i%100 == 0 {
			l.failed("10.0.0.1", "admin", now)
		}
	}
	if r := l.addr.get("10.0.0.1", now); r == nil || r.fails < addrFreeFails {
		t.Errorf("the attacker's record was pushed out: %+v", r)
	}
}

func TestUserAdministration(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	admin := s.login(t, "admin")
	user := s.login(t, "user")
	if rec := s.do("GET", "/users/", nil, user); rec.Code != http.StatusForbidden {
		t.Errorf("a plain user opened /users/: %d", rec.Code)
	}
	rec := s.do("POST", "/users/", url.Values{"name": {"carol"}, "password": {"longenough"}, "project": {fmt.Sprint(s.project.ID)}}, admin)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("create user: %d %s", rec.Code, rec.Body.String())
	}
	carol, err := s.db.User("carol")
	if err != nil || !carol.CanSee(s.project.ID) || carol.Admin {
		t.Fatalf("carol = %+v, %v", carol, err)
	}
	for _, bad := range []url.Values{{"name": {"carol"}, "password": {"longenough"}}, {"name": {"d d"}, "password": {"longenough"}}, {"name": {"dave"}, "password": {"short"}}} {
		if rec := s.do("POST", "/users/", bad, admin); rec.Code != http.StatusBadRequest {
			t.Errorf("create %v: %d, want 400", bad, rec.Code)
		}
	}
	if rec := s.do("POST", "/users/user/", url.Values{"op": {"deactivate"}}, admin); rec.Code != http.StatusSeeOther {
		t.Fatalf("deactivate: %d", rec.Code)
	}
	if rec := s.do("GET", "/projects/", nil, user); rec.Code != http.StatusSeeOther {
		t.Errorf("a deactivated user's session still works: %d", rec.Code)
	}
	if rec := s.do("POST", "/users/admin/", url.Values{"op": {"deactivate"}}, admin); rec.Code != http.StatusBadRequest {
		t.Errorf("self-deactivation: %d, want 400", rec.Code)
	}
	s.do("POST", "/users/user/", url.Values{"op": {"activate"}}, admin)
	if u, _ := s.db.User("user"); !u.Active {
		t.Error("activate did not work")
	}
	s.do("POST", "/users/carol/", url.Values{"op": {"projects"}}, admin)
	if c, _ := s.db.User("carol"); c.CanSee(s.project.ID) {
		t.Error("removing carol's projects did not work")
	}
	// Members page: grant the project to carol again.
	rec = s.do("POST", fmt.Sprintf("/projects/%d/members/", s.project.ID), url.Values{"member": {"carol"}}, admin)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("members: %d", rec.Code)
	}
	if c, _ := s.db.User("carol"); !c.CanSee(s.project.ID) {
		t.Error("the members page did not grant the project")
	}
	if u, _ := s.db.User("user"); u.CanSee(s.project.ID) {
		t.Error("the members page granted an unchecked user")
	}
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.login(t, "user")
	other := s.login(t, "user")
	for _, bad := range []url.Values{
		{"old": {"wrong"}, "new": {"newpassword"}, "new2": {"newpassword"}},
		{"old": {testPassword}, "new": {"newpassword"}, "new2": {"different"}},
		{"old": {testPassword}, "new": {"short"}, "new2": {"short"}},
	} {
		if rec := s.do("POST", "/accounts/password/", bad, c); rec.Code != http.StatusBadRequest {
			t.Errorf("change password %v: %d, want 400", bad, rec.Code)
		}
	}
	rec := s.do("POST", "/accounts/password/", url.Values{"old": {testPassword}, "new": {"newpassword"}, "new2": {"newpassword"}}, c)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("change password: %d", rec.Code)
	}
	if _, err := s.db.CheckPassword("user", "newpassword"); err != nil {
		t.Error("new password does not work")
	}
	if rec := s.do("GET", "/projects/", nil, other); rec.Code != http.StatusSeeOther {
		t.Error("another session survived the password change")
	}
	fresh := rec.Result().Cookies()[0]
	if rec := s.do("GET", "/accounts/password/?done", nil, fresh); rec.Code != http.StatusOK {
		t.Errorf("the session after the change: %d", rec.Code)
	}
}

func TestIssueActionsThroughTheUI(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.ingest(t, s.project.ID, []byte(`{"message":"one"}`), []byte(`{"message":"two"}`))
	issues := s.issues(t, s.project.ID)
	a, b := issues[0], issues[1]
	admin := s.login(t, "admin")
	act := func(id uint32, action string) int {
		return s.do("POST", fmt.Sprintf("/issues/%d/action/", id), url.Values{"action": {action}, "comment": {"because"}}, admin).Code
	}
	if code := act(a.ID, "resolve"); code != http.StatusSeeOther {
		t.Fatalf("resolve: %d", code)
	}
	if code := act(a.ID, "mute"); code != http.StatusConflict {
		t.Errorf("mute a resolved issue: %d, want 409", code)
	}
	if code := act(a.ID, "resolved_next"); code != http.StatusBadRequest {
		t.Errorf("an action the UI does not offer yet: %d, want 400", code)
	}
	body := s.do("GET", fmt.Sprintf("/issues/%d/event/last/", a.ID), nil, admin).Body.String()
	if strings.Contains(body, `id="action-mute"`) || strings.Contains(body, `id="action-resolve"`) || !strings.Contains(body, `id="action-reopen"`) {
		t.Error("a resolved issue shows buttons that cannot work, or lacks Reopen")
	}
	if code := s.do("POST", fmt.Sprintf("/issues/%d/comment/", a.ID), url.Values{"comment": {"a note"}}, admin).Code; code != http.StatusSeeOther {
		t.Errorf("comment: %d", code)
	}
	hist := s.do("GET", fmt.Sprintf("/issues/%d/history/", a.ID), nil, admin).Body.String()
	for _, want := range []string{"Resolved", "because", "a note", "First seen"} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q", want)
		}
	}
	// Bulk: mute both; the resolved one is skipped and reported.
	rec := s.do("POST", fmt.Sprintf("/projects/%d/issues/", s.project.ID),
		url.Values{"action": {"mute"}, "issue": {fmt.Sprint(a.ID), fmt.Sprint(b.ID)}, "return": {fmt.Sprintf("/projects/%d/?tab=all", s.project.ID)}}, admin)
	if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || !strings.Contains(loc, "skipped=1") || !strings.Contains(loc, "tab=all") {
		t.Errorf("bulk mute: %d to %q", rec.Code, loc)
	}
	list := s.do("GET", rec.Header().Get("Location"), nil, admin).Body.String()
	if !strings.Contains(list, "Mute: applied to 1 issue, 1 skipped") {
		t.Error("the list does not report what the action applied to and skipped")
	}
	if got, _ := s.db.Issue(b.ID); !got.IsMuted {
		t.Error("bulk mute did not mute the open issue")
	}
	for tab, want := range map[string]int{"open": 0, "unresolved": 1, "muted": 1, "resolved": 1, "all": 2} {
		body := s.do("GET", fmt.Sprintf("/projects/%d/?tab=%s", s.project.ID, tab), nil, admin).Body.String()
		if got := strings.Count(body, `name="issue"`); got != want {
			t.Errorf("tab %s lists %d issues, want %d", tab, got, want)
		}
	}
}

func TestProjectPages(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	admin := s.login(t, "admin")
	rec := s.do("POST", "/projects/new/", url.Values{"name": {"Web Shop"}}, admin)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("create project: %d", rec.Code)
	}
	p, err := s.db.ProjectBySlug("web-shop")
	if err != nil {
		t.Fatal(err)
	}
	body := s.do("GET", rec.Header().Get("Location"), nil, admin).Body.String()
	if dsn := DSN("http://127.0.0.1:8000", p); !strings.Contains(body, dsn) {
		t.Errorf("settings page lacks the DSN %s", dsn)
	}
	for _, bad := range []string{"", "!!!", "Web Shop"} {
		if rec := s.do("POST", "/projects/new/", url.Values{"name": {bad}}, admin); rec.Code != http.StatusBadRequest {
			t.Errorf("create %q: %d, want 400", bad, rec.Code)
		}
	}
	rec = s.do("POST", fmt.Sprintf("/projects/%d/settings/", p.ID), url.Values{"name": {"Web Shop 2"}, "retention": {"500"}, "alert_new": {"1"}}, admin)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("save settings: %d", rec.Code)
	}
	got, _ := s.db.Project(p.ID)
	if got.Name != "Web Shop 2" || got.RetentionMax != 500 || !got.AlertOnNewIssue || got.AlertOnRegression || got.AlertOnUnmute {
		t.Errorf("project after save = %+v", got)
	}
	if rec := s.do("POST", fmt.Sprintf("/projects/%d/settings/", p.ID), url.Values{"name": {"x"}, "retention": {"zero"}}, admin); rec.Code != http.StatusBadRequest {
		t.Errorf("bad retention: %d", rec.Code)
	}
	user := s.login(t, "user")
	if rec := s.do("POST", "/projects/new/", url.Values{"name": {"Mine"}}, user); rec.Code != http.StatusForbidden {
		t.Errorf("a plain user created a project: %d", rec.Code)
	}
	s.db.SetUserProjects("user", []int{p.ID})
	if rec := s.do("GET", fmt.Sprintf("/projects/%d/settings/", p.ID), nil, user); rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `name="retention"`) {
		t.Errorf("a member's settings page: %d (form shown: %v)", rec.Code, strings.Contains(rec.Body.String(), `name="retention"`))
	}
	if rec := s.do("POST", fmt.Sprintf("/projects/%d/settings/", p.ID), url.Values{"name": {"x"}, "retention": {"5"}}, user); rec.Code != http.StatusForbidden {
		t.Errorf("a member saved settings: %d", rec.Code)
	}
}

func TestGoodLoginsDoNotUseUpTheAddress(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	for i := 0; i < addrFreeFails+1; i++ {
		s.login(t, "admin")
	}
}

func TestReleaseResolvesAndTimedMutes(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.ingest(t, s.project.ID, []byte(`{"message":"one","release":"1.0.0"}`), []byte(`{"message":"two","release":"1.2.0"}`), []byte(`{"message":"three"}`))
	issues := s.issues(t, s.project.ID)
	a, b, c := issues[0], issues[1], issues[2]
	admin := s.login(t, "admin")
	act := func(id uint32, action string) int {
		return s.do("POST", fmt.Sprintf("/issues/%d/action/", id), url.Values{"action": {action}}, admin).Code
	}
	page := s.do("GET", fmt.Sprintf("/issues/%d/event/last/", a.ID), nil, admin).Body.String()
	for _, want := range []string{"Resolve in the next release", "Resolve in the latest release (1.2.0)", "Mute for 1 week", "Mute until 100 events in 24 hours"} {
		if !strings.Contains(page, want) {
			t.Errorf("issue page lacks the choice %q", want)
		}
	}
	if code := act(a.ID, "resolve_release:0.9"); code != http.StatusBadRequest {
		t.Errorf("resolving in a release the UI did not offer: %d, want 400", code)
	}
	if code := act(a.ID, "resolve_release:1.2.0"); code != http.StatusSeeOther {
		t.Fatalf("resolve in latest: %d", code)
	}
	if code := act(b.ID, "resolve_next"); code != http.StatusSeeOther {
		t.Fatalf("resolve next: %d", code)
	}
	if code := act(c.ID, "mute_for:week,1"); code != http.StatusSeeOther {
		t.Fatalf("mute for a week: %d", code)
	}
	for id, want := range map[uint32]string{a.ID: "Resolved in 1.2.0", b.ID: "Resolved in the next release", c.ID: "Muted until "} {
		body := s.do("GET", fmt.Sprintf("/issues/%d/event/last/", id), nil, admin).Body.String()
		if !strings.Contains(body, want) {
			t.Errorf("issue %d page lacks the state %q", id, want)
		}
		if strings.Contains(body, "Mute for 1 week") {
			t.Errorf("issue %d offers a mute in a state that forbids it", id)
		}
	}
	if code := act(c.ID, "unmute"); code != http.StatusSeeOther {
		t.Fatalf("unmute: %d", code)
	}
	if code := act(c.ID, "mute_until:hour,24,100"); code != http.StatusSeeOther {
		t.Fatalf("mute until: %d", code)
	}
	if body := s.do("GET", fmt.Sprintf("/issues/%d/history/", c.ID), nil, admin).Body.String(); !strings.Contains(body, "Muted until 100 events in 24 hours") || strings.Count(body, "<b>Muted</b>") != 2 {
		t.Error("history or state of the volume mute is wrong")
	}
	// Bulk: the presets are there, enabled where they can apply.
	list := s.do("GET", fmt.Sprintf("/projects/%d/?tab=all", s.project.ID), nil, admin).Body.String()
	if !strings.Contains(list, `value="mute_for:day,1"`) || !strings.Contains(list, `value="resolve_release:1.2.0"`) {
		t.Error("the issue list lacks the bulk presets")
	}
}
