// Package httpserve holds what the server and the relay-only binary share
// to run: the logger from the log settings, the base URL, the signals of a
// graceful shutdown and the HTTP server's lifetime.
package httpserve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// NewLogger returns the logger of -log-level and -log-format (text or
// json), writing to w.
func NewLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad -log-level %q", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("bad -log-format %q (text or json)", format)
}

// BaseURL is the configured base URL, or http://localhost:<port> from the
// listener (when set) or the listen address.
func BaseURL(configured, addr string, ln net.Listener) string {
	if configured != "" {
		return strings.TrimRight(configured, "/")
	}
	host, port, err := net.SplitHostPort(addr)
	if ln != nil {
		host, port, err = net.SplitHostPort(ln.Addr().String())
	}
	if err != nil {
		return "http://localhost:8000"
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Signals returns a context that SIGINT or SIGTERM cancels, for a
// graceful shutdown; a second signal while it runs exits at once (what is
// acknowledged is in the fsync'd spool, and the store survives a crash).
// stop releases the signals.
func Signals(stderr io.Writer) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sig:
		case <-done:
			return
		}
		cancel()
		select {
		case s := <-sig:
			fmt.Fprintf(stderr, "tinysink: %v again: stopping at once\n", s)
			os.Exit(1)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sig)
		close(done)
		cancel()
	}
}

// Serve serves srv on ln (and metrics on metricsLn, when set) until srv
// fails or ctx is done, then shuts srv down gracefully (10 s at most). A
// server closed by that shutdown is no error.
func Serve(ctx context.Context, log *slog.Logger, srv *http.Server, ln net.Listener, metrics *http.Server, metricsLn net.Listener) error {
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()
	if metrics != nil {
		go metrics.Serve(metricsLn)
		defer metrics.Close()
	}
	var err error
	select {
	case err = <-srvErr:
	case <-ctx.Done():
		log.Info("shutting down")
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = srv.Shutdown(sctx)
		scancel()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// NewServer is the HTTP server of the Sentry endpoints (and, in tinysink,
// the UI and API) on -addr: headers within 10 s, after which ingest bodies
// keep to a minimum rate (ingest/slowbody.go) and other bodies to
// ReadTimeout; connState is the connection limiter's hook.
func NewServer(h http.Handler, log *slog.Logger, connState func(net.Conn, http.ConnState)) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ConnState:         connState,
	}
}

// NewMetricsServer is the server of -metrics-addr (/metrics and
// /health/*, without a token).
func NewMetricsServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
}
