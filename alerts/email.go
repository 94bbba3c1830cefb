package alerts

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/tinysink/tinysink/budget"
	"github.com/tinysink/tinysink/store"
)

// SMTP is the mail server alert emails go through.
type SMTP struct {
	Host string
	// Port defaults to 587 for "starttls", 465 for "tls" and 25 for "none".
	Port int
	// User and Password log in with AUTH PLAIN; an empty User skips it.
	// AUTH is only used over TLS, or with the server on localhost.
	User, Password string
	// From is the sender, a bare address or "Name <address>".
	From string
	// TLS is "starttls" (the default: plain connection upgraded with
	// STARTTLS, which the server must offer), "tls" (implicit TLS, often
	// port 465) or "none".
	TLS string
	// RootCAs verifies the server's certificate; nil uses the system's.
	RootCAs *x509.CertPool
}

// smtpTimeout bounds one SMTP conversation.
const smtpTimeout = 30 * time.Second

func (c *SMTP) mode() string {
	if c.TLS == "" {
		return "starttls"
	}
	return c.TLS
}

func (c *SMTP) port() int {
	if c.Port != 0 {
		return c.Port
	}
	switch c.mode() {
	case "tls":
		return 465
	case "none":
		return 25
	}
	return 587
}

// Validate reports settings that cannot work.
func (c *SMTP) Validate() error {
	var errs []error
	if c.Host == "" {
		errs = append(errs, errors.New("alerts: the SMTP host is empty"))
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("alerts: SMTP port %d is out of range", c.Port))
	}
	switch c.mode() {
	case "starttls", "tls", "none":
	default:
		errs = append(errs, fmt.Errorf("alerts: SMTP TLS mode %q is not starttls, tls or none", c.TLS))
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		errs = append(errs, fmt.Errorf("alerts: the email sender %q is not an address", c.From))
	}
	return errors.Join(errs...)
}

// send delivers msg to one recipient.
func (c *SMTP) send(ctx context.Context, to string, msg []byte) error {
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return fmt.Errorf("sender address: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, smtpTimeout)
	defer cancel()
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.port()))
	tlsConfig := &tls.Config{ServerName: c.Host, RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12}
	var conn net.Conn
	if c.mode() == "tls" {
		d := tls.Dialer{Config: tlsConfig}
		conn, err = d.DialContext(ctx, "tcp", addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return err
	}
	// net/smtp has no contexts: a deadline bounds the conversation, and
	// closing the connection ends it on cancellation.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	cl, err := smtp.NewClient(conn, c.Host)
	if err != nil {
		conn.Close()
		return err
	}
	defer cl.Close()
	if err := cl.Hello(heloName()); err != nil {
		return err
	}
	if c.mode() == "starttls" {
		if ok, _ := cl.Extension("STARTTLS"); !ok {
			return errors.New("the SMTP server does not offer STARTTLS (set the TLS mode to none to send in the clear)")
		}
		if err := cl.StartTLS(tlsConfig); err != nil {
			return err
		}
	}
	if c.User != "" {
		if ok, _ := cl.Extension("AUTH"); !ok {
			return errors.New("the SMTP server does not offer AUTH")
		}
		if err := cl.Auth(smtp.PlainAuth("", c.User, c.Password, c.Host)); err != nil {
			return err
		}
	}
	if err := cl.Mail(from.Address); err != nil {
		return err
	}
	if err := cl.Rcpt(to); err != nil {
		return err
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return cl.Quit()
}

// heloName is the name we greet the SMTP server with.
func heloName() string {
	if h, err := os.Hostname(); err == nil && strings.Contains(h, ".") {
		return h
	}
	return "localhost"
}

// permanentSMTP reports whether an SMTP error is a 5xx reply, which a
// retry will not change.
func permanentSMTP(err error) bool {
	var te *textproto.Error
	return errors.As(err, &te) && te.Code >= 500
}

//go:embed templates
var templateFS embed.FS

type mailTemplates struct {
	html *htmltemplate.Template
	text *texttemplate.Template
}

// templates parses the email templates on first use.
var templates = budget.Lazy("alert-templates", func() *mailTemplates {
	return &mailTemplates{
		html: htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/issue_alert.html")),
		text: texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/issue_alert.txt")),
	}
})

// mailData is what the email templates see: fields only, since templates
// call no methods (see ui/cmd/tmploverlay).
type mailData struct {
	Subject, State, Title, UnmuteReason, ProjectName string
	FriendlyID, FirstSeen, URL, SettingsURL          string
	EventCount                                       int64
}

func newMailData(m *message) mailData {
	return mailData{
		Subject: subject(m), State: m.State(), Title: m.Title, UnmuteReason: m.UnmuteReason,
		ProjectName: m.ProjectName, FriendlyID: m.FriendlyID(),
		FirstSeen: m.FirstSeen().Format("2006-01-02 15:04 UTC"),
		URL:       m.URL, SettingsURL: m.SettingsURL, EventCount: m.EventCount(),
	}
}

// subject is `"<title>" in "<project>" (<state>)`, the title cut to 80
// characters.
func subject(m *message) string {
	return `"` + truncate(m.Title, 80) + `" in "` + m.ProjectName + `" (` + m.State() + ")"
}

func (s *Sender) sendEmail(ctx context.Context, d *store.Delivery, m *message) outcome {
	if s.smtp == nil {
		return outcome{drop: true}
	}
	ok, err := s.db.ClaimEmail(d.ID, s.now(), s.perHour)
	if err != nil {
		return outcome{failure: &store.Failure{At: s.now(), Error: "count email: " + err.Error()}}
	}
	if !ok {
		s.log.Warn("alert email dropped: the hourly email cap is reached", "per_hour", s.perHour, "issue_id", d.Alert.Issue)
		return outcome{drop: true}
	}
	msg, err := s.composeMail(m, d.Email)
	if err != nil {
		return outcome{failure: &store.Failure{At: s.now(), Error: err.Error()}, permanent: true}
	}
	if err := s.smtp.send(ctx, d.Email, msg); err != nil {
		return outcome{failure: &store.Failure{At: s.now(), Error: "smtp: " + err.Error()}, permanent: permanentSMTP(err)}
	}
	return outcome{}
}

// composeMail renders m as a multipart/alternative email (text and HTML)
// to one recipient.
func (s *Sender) composeMail(m *message, to string) ([]byte, error) {
	from, err := mail.ParseAddress(s.smtp.From)
	if err != nil {
		return nil, fmt.Errorf("sender address: %w", err)
	}
	data := newMailData(m)
	t := templates()
	var text, html bytes.Buffer
	if err := t.text.Execute(&text, data); err != nil {
		return nil, err
	}
	if err := t.html.Execute(&html, data); err != nil {
		return nil, err
	}
	var id [12]byte
	rand.Read(id[:])
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]

	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", from.String())
	hdr("To", (&mail.Address{Address: to}).String())
	hdr("Subject", mime.QEncoding.Encode("utf-8", data.Subject))
	hdr("Date", s.now().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+hex.EncodeToString(id[:])+"@"+domain+">")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `multipart/alternative; boundary="`+mw.Boundary()+`"`)
	hdr("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	for _, part := range []struct {
		ctype string
		body  []byte
	}{{"text/plain; charset=utf-8", text.Bytes()}, {"text/html; charset=utf-8", html.Bytes()}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qw := quotedprintable.NewWriter(pw) // writes line ends as CRLF
		if _, err := qw.Write(part.body); err != nil {
			return nil, err
		}
		if err := qw.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// SendText sends one plain-text email to one recipient, at once and
// outside the alert outbox: for account mail (a password-reset link) that
// is worth nothing later.
func (c *SMTP) SendText(ctx context.Context, to, subj, body string) error {
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return fmt.Errorf("sender address: %w", err)
	}
	var id [12]byte
	rand.Read(id[:])
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	var b bytes.Buffer
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", from.String())
	hdr("To", (&mail.Address{Address: to}).String())
	hdr("Subject", mime.QEncoding.Encode("utf-8", subj))
	hdr("Date", time.Now().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+hex.EncodeToString(id[:])+"@"+domain+">")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "quoted-printable")
	hdr("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	qw := quotedprintable.NewWriter(&b)
	if _, err := qw.Write([]byte(body)); err != nil {
		return err
	}
	if err := qw.Close(); err != nil {
		return err
	}
	return c.send(ctx, to, b.Bytes())
}
