package alerts

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/store"
)

// testCert returns a self-signed certificate for 127.0.0.1 and a pool
// that trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tinysink test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// mailMsg is one message the fake SMTP server accepted.
type mailMsg struct {
	from     string
	to       []string
	data     []byte
	tls      bool
	authUser string
	authPass string
}

// smtpServer is a small SMTP receiver on 127.0.0.1: EHLO with STARTTLS
// (before TLS) and AUTH PLAIN (over TLS), MAIL, RCPT, DATA, QUIT.
type smtpServer struct {
	ln       net.Listener
	tls      *tls.Config
	implicit bool // TLS from the first byte
	starttls bool // offer STARTTLS
	rcptCode int  // answer RCPT with this code (0: 250)

	mu    sync.Mutex
	msgs  []mailMsg
	conns int
	wg    sync.WaitGroup
}

func startSMTP(t *testing.T, implicit, starttls bool) (*smtpServer, *x509.CertPool) {
	t.Helper()
	cert, pool := testCert(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln, tls: &tls.Config{Certificates: []tls.Certificate{cert}}, implicit: implicit, starttls: starttls}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s, pool
}

func (s *smtpServer) settings(pool *x509.CertPool, mode string) *SMTP {
	_, port, _ := net.SplitHostPort(s.ln.Addr().String())
	p, _ := strconv.Atoi(port)
	return &SMTP{Host: "127.0.0.1", Port: p, User: "alerts", Password: "s3cret", From: "tinysink <alerts@example.org>", TLS: mode, RootCAs: pool}
}

func (s *smtpServer) messages() []mailMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

func (s *smtpServer) serve(c net.Conn) {
	defer func() { c.Close() }()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	isTLS := s.implicit
	if isTLS {
		c = tls.Server(c, s.tls)
	}
	tp := textproto.NewConn(c)
	tp.PrintfLine("220 127.0.0.1 ESMTP test")
	var m mailMsg
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			ext := []string{"127.0.0.1 hello"}
			if s.starttls && !isTLS {
				ext = append(ext, "STARTTLS")
			}
			if isTLS {
				ext = append(ext, "AUTH PLAIN")
			}
			ext = append(ext, "8BITMIME")
			for i, e := range ext {
				sep := "-"
				if i == len(ext)-1 {
					sep = " "
				}
				tp.PrintfLine("250%s%s", sep, e)
			}
		case "STARTTLS":
			tp.PrintfLine("220 2.0.0 ready")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, isTLS = tc, true
			tp = textproto.NewConn(c)
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			b, err := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(b), "\x00")
			if mech != "PLAIN" || err != nil || len(parts) != 3 {
				tp.PrintfLine("501 bad AUTH")
				continue
			}
			m.authUser, m.authPass = parts[1], parts[2]
			tp.PrintfLine("235 2.7.0 ok")
		case "MAIL":
			m.from = strings.Trim(strings.TrimPrefix(strings.Fields(arg)[0], "FROM:"), "<>")
			tp.PrintfLine("250 ok")
		case "RCPT":
			if s.rcptCode != 0 {
				tp.PrintfLine("%d no such user", s.rcptCode)
				continue
			}
			m.to = append(m.to, strings.Trim(strings.TrimPrefix(arg, "TO:"), "<>"))
			tp.PrintfLine("250 ok")
		case "DATA":
			tp.PrintfLine("354 go ahead")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			m.data, m.tls = data, isTLS
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
			m = mailMsg{authUser: m.authUser, authPass: m.authPass}
			tp.PrintfLine("250 queued")
		case "RSET", "NOOP":
			tp.PrintfLine("250 ok")
		case "QUIT":
			tp.PrintfLine("221 bye")
			return
		default:
			tp.PrintfLine("502 unknown command")
		}
	}
}

// parsedMail is a received alert email taken apart.
type parsedMail struct {
	subject, from, to, text, html string
}

func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	pm := parsedMail{subject: subj, from: msg.Header.Get("From"), to: msg.Header.Get("To")}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(part) // quoted-printable is decoded by the reader
		switch ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); ct {
		case "text/plain":
			pm.text = string(b)
		case "text/html":
			pm.html = string(b)
		}
	}
	if pm.text == "" || pm.html == "" {
		t.Fatalf("missing a part: text %d bytes, html %d bytes", len(pm.text), len(pm.html))
	}
	return pm
}

// emailFixture makes a project whose alert emails go to root@ (an admin)
// and ann@ (a member); bob@ turned them off, carl@ is in another project.
func emailFixture(t *testing.T, db *store.DB) (*store.Project, *store.Issue) {
	t.Helper()
	p, iss := seed(t, db, "Shop")
	q, err := db.CreateProject("Other")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		name     string
		admin    bool
		projects []int
	}{{"admin", true, nil}, {"ann@example.org", false, []int{p.ID}}, {"bob@example.org", false, []int{p.ID}}, {"carl@example.org", false, []int{q.ID}}} {
		if _, err := db.CreateUser(u.name, "password1", u.admin); err != nil {
			t.Fatal(err)
		}
		if err := db.SetUserProjects(u.name, u.projects); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.SetAlertAddress("admin", "root@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetEmailAlerts("bob@example.org", p.ID, false); err != nil {
		t.Fatal(err)
	}
	return p, iss
}

func TestEmailAlerts(t *testing.T) {
	srv, pool := startSMTP(t, false, true)
	c := &clock{}
	db := newDB(t, c)
	p, iss := emailFixture(t, db)
	s := newSender(t, db, c, func(cfg *Config) { cfg.SMTP = srv.settings(pool, "") })
	run(t, s)

	for i, tt := range []struct {
		alert   store.Alert
		subject string
		extra   string // in both bodies
	}{
		{store.Alert{Reason: store.ReasonNew}, `"ValueError: bad input" in "Shop" (New issue)`, "New issue in"},
		{store.Alert{Reason: store.ReasonRegressed}, `"ValueError: bad input" in "Shop" (Regression)`, "Regression in"},
		{store.Alert{Reason: store.ReasonUnmuted, UnmuteReason: "An event was observed after the mute-deadline <soon>."},
			`"ValueError: bad input" in "Shop" (Unmuted issue)`, "mute-deadline"},
	} {
		tt.alert.Project, tt.alert.Issue = p.ID, iss.ID
		enqueue(t, db, tt.alert)
		s.Poke()
		want := 2 * (i + 1)
		waitFor(t, tt.subject, 5*time.Second, func() bool { return len(srv.messages()) >= want })
		msgs := srv.messages()[want-2 : want]
		var to []string
		for _, m := range msgs {
			if len(m.to) != 1 {
				t.Fatalf("message to %v, want one recipient each", m.to)
			}
			to = append(to, m.to[0])
			if !m.tls || m.authUser != "alerts" || m.authPass != "s3cret" || m.from != "alerts@example.org" {
				t.Errorf("envelope: tls %v auth %q/%q from %q", m.tls, m.authUser, m.authPass, m.from)
			}
			pm := parseMail(t, m.data)
			if pm.subject != tt.subject {
				t.Errorf("Subject = %q, want %q", pm.subject, tt.subject)
			}
			if pm.to != "<"+m.to[0]+">" || !strings.Contains(pm.from, "alerts@example.org") {
				t.Errorf("From %q To %q", pm.from, pm.to)
			}
			link := testBaseURL + "/issues/" + strconv.FormatUint(uint64(iss.ID), 10) + "/"
			for name, body := range map[string]string{"text": pm.text, "html": pm.html} {
				if !strings.Contains(body, link) || !strings.Contains(body, "SHOP-1") {
					t.Errorf("%s body lacks the link or id:\n%s", name, body)
				}
				if !strings.Contains(body, tt.extra) {
					t.Errorf("%s body lacks %q:\n%s", name, tt.extra, body)
				}
			}
			if tt.alert.Reason == store.ReasonUnmuted && !strings.Contains(pm.html, "&lt;soon&gt;") {
				t.Errorf("html body does not escape the unmute reason:\n%s", pm.html)
			}
		}
		slices.Sort(to)
		if !slices.Equal(to, []string{"ann@example.org", "root@example.org"}) {
			t.Errorf("recipients = %v", to)
		}
	}
	if !slices.Contains(budget.Loaded(), "alert-templates") {
		t.Error("the templates are not registered with budget")
	}
	if st, _ := db.EmailStatus(); st.LastSuccess.IsZero() || st.LastFailure != nil {
		t.Errorf("EmailStatus = %+v", st)
	}
}

func TestEmailHourlyCap(t *testing.T) {
	t.Parallel()
	srv, pool := startSMTP(t, false, true)
	c := &clock{}
	db := newDB(t, c)
	p, iss := seed(t, db, "Shop")
	if _, err := db.CreateUser("ann@example.org", "password1", true); err != nil {
		t.Fatal(err)
	}
	s := newSender(t, db, c, func(cfg *Config) {
		cfg.SMTP = srv.settings(pool, "starttls")
		cfg.EmailsPerHour = 2
	})
	run(t, s)
	for range 3 {
		enqueue(t, db, store.Alert{Project: p.ID, Issue: iss.ID, Reason: store.ReasonRegressed})
	}
	s.Poke()
	waitFor(t, "the outbox to empty", 5*time.Second, func() bool {
		out, _ := db.Outbox()
		return len(out) == 0
	})
	if n := len(srv.messages()); n != 2 {
		t.Errorf("sent %d emails in the hour, want 2", n)
	}
	if st, _ := db.EmailStatus(); st.Dropped != 1 {
		t.Errorf("Dropped = %d, want 1", st.Dropped)
	}
	c.Advance(time.Hour)
	enqueue(t, db, store.Alert{Project: p.ID, Issue: iss.ID, Reason: store.ReasonRegressed})
	s.Poke()
	waitFor(t, "the next hour's email", 5*time.Second, func() bool { return len(srv.messages()) == 3 })
}

func TestEmailImplicitTLS(t *testing.T) {
	t.Parallel()
	srv, pool := startSMTP(t, true, false)
	c := &clock{}
	db := newDB(t, c)
	p, iss := seed(t, db, "Shop")
	db.CreateUser("ann@example.org", "password1", true)
	s := newSender(t, db, c, func(cfg *Config) { cfg.SMTP = srv.settings(pool, "tls") })
	run(t, s)
	enqueue(t, db, store.Alert{Project: p.ID, Issue: iss.ID, Reason: store.ReasonNew})
	s.Poke()
	waitFor(t, "the email", 5*time.Second, func() bool { return len(srv.messages()) == 1 })
	m := srv.messages()[0]
	if !m.tls || m.authUser != "alerts" || m.to[0] != "ann@example.org" {
		t.Errorf("message %+v", m)
	}
	if pm := parseMail(t, m.data); pm.subject != `"ValueError: bad input" in "Shop" (New issue)` {
		t.Errorf("Subject = %q", pm.subject)
	}
}

func TestEmailFailures(t *testing.T) {
	t.Parallel()
	t.Run("no STARTTLS offered is retried, then given up", func(t *testing.T) {
		srv, pool := startSMTP(t, false, false)
		c := &clock{}
		db := newDB(t, c)
		p, iss := seed(t, db, "Shop")
		db.CreateUser("ann@example.org", "password1", true)
		s := newSender(t, db, c, func(cfg *Config) { cfg.SMTP = srv.settings(pool, "starttls") })
		run(t, s)
		enqueue(t, db, store.Alert{Project: p.ID, Issue: iss.ID, Reason: store.ReasonNew})
		s.Poke()
		waitFor(t, "give-up", 5*time.Second, func() bool {
			out, _ := db.Outbox()
			return len(out) == 0
		})
		srv.mu.Lock()
		conns := srv.conns
		srv.mu.Unlock()
		if len(srv.messages()) != 0 || conns != quickRetry.Attempts {
			t.Errorf("%d messages over %d connections, want 0 over %d", len(srv.messages()), conns, quickRetry.Attempts)
		}
		if st, _ := db.EmailStatus(); st.LastFailure == nil || !strings.Contains(st.LastFailure.Error, "STARTTLS") {
			t.Errorf("EmailStatus = %+v", st)
		}
		// Each attempt was counted once against the cap.
		if n, _ := db.EmailsSent(c.Now()); n != 1 {
			t.Errorf("EmailsSent = %d, want 1", n)
		}
	})
	t.Run("a 5xx reply is not retried", func(t *testing.T) {
		srv, pool := startSMTP(t, false, true)
		srv.rcptCode = 550
		c := &clock{}
		db := newDB(t, c)
		p, iss := seed(t, db, "Shop")
		db.CreateUser("ann@example.org", "password1", true)
		s := newSender(t, db, c, func(cfg *Config) { cfg.SMTP = srv.settings(pool, "") })
		run(t, s)
		enqueue(t, db, store.Alert{Project: p.ID, Issue: iss.ID, Reason: store.ReasonNew})
		s.Poke()
		waitFor(t, "give-up", 5*time.Second, func() bool {
			out, _ := db.Outbox()
			return len(out) == 0
		})
		srv.mu.Lock()
		conns := srv.conns
		srv.mu.Unlock()
		if conns != 1 {
			t.Errorf("%d connections, want 1", conns)
		}
		if st, _ := db.EmailStatus(); st.LastFailure == nil || !strings.Contains(st.LastFailure.Error, "550") {
			t.Errorf("EmailStatus = %+v", st)
		}
	})
	t.Run("without SMTP settings email deliveries are dropped", func(t *testing.T) {
		c := &clock{}
		db := newDB(t, c)
		p, iss := seed(t, db, "Shop")
		db.CreateUser("ann@example.org", "password1", true)
		s := newSender(t, db, c, nil)
		run(t, s)
		enqueue(t, db, store.Alert{Project: p.ID, Issue: iss.ID, Reason: store.ReasonNew})
		s.Poke()
		waitFor(t, "the drop", 5*time.Second, func() bool {
			out, _ := db.Outbox()
			return len(out) == 0
		})
	})
}

func TestComposeMail(t *testing.T) {
	t.Parallel()
	c := &clock{}
	s := New(Config{BaseURL: testBaseURL, SMTP: &SMTP{Host: "h", From: "Tiny Sink <a@example.org>"}, Now: c.Now})
	p := &store.Project{ID: 1, Name: "Shop\r\nBcc: evil@example.org", Slug: "shop"}
	iss := &store.Issue{ID: 9, ProjectID: 1, DigestOrder: 4, CalculatedType: "Ünïcode", CalculatedValue: strings.Repeat("long ", 40)}
	raw, err := s.composeMail(s.newMessage(p, iss, &store.Alert{Reason: store.ReasonNew}), "ann@example.org")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\n' && (i == 0 || raw[i-1] != '\r') {
			t.Fatalf("bare LF at byte %d", i)
		}
	}
	for _, line := range bytes.Split(raw, []byte("\r\n")) {
		if len(line) > 998 {
			t.Fatalf("line of %d bytes", len(line))
		}
		if bytes.HasPrefix(line, []byte("Bcc:")) {
			t.Fatal("header injected through the project name")
		}
	}
	pm := parseMail(t, bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")))
	wantTitle := truncate("Ünïcode: "+strings.Repeat("long ", 40), 80)
	if want := `"` + wantTitle + `" in "Shop  Bcc: evil@example.org" (New issue)`; pm.subject != want {
		t.Errorf("Subject = %q, want %q", pm.subject, want)
	}
}

func TestSMTPValidate(t *testing.T) {
	t.Parallel()
	if err := (&SMTP{Host: "mail", From: "a@b.c"}).Validate(); err != nil {
		t.Errorf("valid settings: %v", err)
	}
	err := (&SMTP{From: "nope", TLS: "ssl", Port: 70000}).Validate()
	for _, want := range []string{"host is empty", "port 70000", `"ssl"`, "not an address"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to mention %q", err, want)
		}
	}
	for mode, port := range map[string]int{"": 587, "starttls": 587, "tls": 465, "none": 25} {
		if got := (&SMTP{TLS: mode}).port(); got != port {
			t.Errorf("port for %q = %d, want %d", mode, got, port)
		}
	}
}
