package main

import (
	"bufio"
	"io"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// smtpSink is a mail server on 127.0.0.1 that accepts every message (no
// TLS, no AUTH) and hands each one's data to mails.
type smtpSink struct {
	ln    net.Listener
	mails chan string
}

func startSMTPSink(t *testing.T) *smtpSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpSink{ln: ln, mails: make(chan string, 10)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpSink) port() string { return strconv.Itoa(s.ln.Addr().(*net.TCPAddr).Port) }

func (s *smtpSink) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	say := func(line string) { io.WriteString(c, line+"\r\n") }
	say("220 sink ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250-sink")
			say("250 8BITMIME")
		case strings.HasPrefix(cmd, "DATA"):
			say("354 go ahead")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			s.mails <- b.String()
			say("250 queued")
		case strings.HasPrefix(cmd, "QUIT"):
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

// A password reset by email, against a real SMTP conversation: ask for
// the link, read it from the mail, set a new password, log in with it.
func TestPasswordResetEmail(t *testing.T) {
	sink := startSMTPSink(t)
	ts := startServer(t, "-smtp-host", "127.0.0.1", "-smtp-port", sink.port(), "-smtp-tls", "none", "-smtp-from", "tinysink <tinysink@example.org>")
	if err := ts.db.SetAlertAddress("admin", "admin@example.org"); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(ts.base+"/accounts/reset/", url.Values{"name": {"admin"}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("ask for a reset: %v %v", resp, err)
	}
	resp.Body.Close()
	var mail string
	select {
	case mail = <-sink.mails:
	case <-time.After(20 * time.Second):
		t.Fatal("no reset email arrived")
	}
	hdr, body, _ := strings.Cut(mail, "\r\n\r\n")
	if !strings.Contains(hdr, "To: <admin@example.org>") || !strings.Contains(hdr, "Subject: Reset your tinysink password") {
		t.Errorf("mail headers:\n%s", hdr)
	}
	text, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`http://\S+/accounts/reset/[0-9a-f]{64}/`).FindString(string(text))
	if !strings.HasPrefix(link, ts.base) {
		t.Fatalf("no reset link in:\n%s", text)
	}
	resp, err = client.PostForm(link, url.Values{"password": {"reset-by-mail"}, "password2": {"reset-by-mail"}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("set the new password: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = client.PostForm(ts.base+"/accounts/login/", url.Values{"name": {"admin"}, "password": {"reset-by-mail"}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("log in with the new password: %v %v", resp, err)
	}
	resp.Body.Close()
}
