package ui

import (
	"strings"
	"testing"
)

// What is wrong with the installation shows as a banner on every page for
// logged-in users, escaped, and not to anonymous visitors.
func TestProblemsBanner(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.login(t, "user")
	if body := s.do("GET", "/projects/", nil, c).Body.String(); strings.Contains(body, "needs attention") {
		t.Error("banner shown with nothing wrong")
	}
	s.problems = []string{"disk nearly full: 50.0MiB available of 16.0GiB", "<b>odd</b>"}
	body := s.do("GET", "/projects/", nil, c).Body.String()
	if !strings.Contains(body, "needs attention") || !strings.Contains(body, "disk nearly full: 50.0MiB available") ||
		!strings.Contains(body, "&lt;b&gt;odd&lt;/b&gt;") {
		t.Errorf("banner missing or unescaped:\n%s", body)
	}
	if body := s.do("GET", "/accounts/login/", nil, nil).Body.String(); strings.Contains(body, "needs attention") {
		t.Error("banner shown to an anonymous visitor")
	}
}
