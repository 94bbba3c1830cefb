package store

import (
	"strings"
	"testing"
)

func TestMaskSecret(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXwxyz", "https://hooks.slack.com/…wxyz"},
		{"http://127.0.0.1:8080/hook?token=abcdefgh12345678", "http://127.0.0.1:8080/…5678"},
		{"http://user:pw@nas.lan:8080/hook?k=secret123456", "http://nas.lan:8080/…3456"},
		{"https://example.com/short", "https://example.com/…"},
		{"https://example.com/", "https://example.com/"},
		{"https://example.com", "https://example.com/"},
		{"123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123", "123456:…0123"},
		{"123456:short", "123456:…"},
		{"abcdefghijklmnop", "…"},
		{"not-a-secret-we-know", "…"},
	} {
		if got := MaskSecret(tt.in); got != tt.want {
			t.Errorf("MaskSecret(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestScrubSecrets(t *testing.T) {
	t.Parallel()
	hook := "https://hooks.example.com/services/T0/B0/SECRETSECRETSECRET"
	tg := "987654:SECRETtokenSECRETtoken"
	b := &AlertBackend{Kind: BackendWebhook, Config: map[string]string{"webhook_url": hook, "bot_token": tg}}
	for _, in := range []string{
		"Post " + hook + ": dial tcp: refused",
		`Post "https://hooks.example.com/services/T0/B0/SECRETSECRETSECRET": EOF`,
		"GET /services/T0/B0/SECRETSECRETSECRET 404",
		"Unauthorized: /bot987654:SECRETtokenSECRETtoken/sendMessage",
		"token SECRETtokenSECRETtoken refused",
	} {
		if got := b.ScrubSecrets(in); strings.Contains(got, "SECRET") {
			t.Errorf("ScrubSecrets(%q) = %q", in, got)
		}
	}
	f := b.Scrubbed(&Failure{Error: hook, Body: tg})
	if strings.Contains(f.Error+f.Body, "SECRET") {
		t.Errorf("Scrubbed = %+v", f)
	}
	if m := b.MaskedConfig(); strings.Contains(m["webhook_url"]+m["bot_token"], "SECRET") {
		t.Errorf("MaskedConfig = %v", m)
	}
}
