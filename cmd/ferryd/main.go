// Command ferryd runs one Ferry I/O server in the foreground.
//
//	ferryd --config FILE --id N [--log-level info] [--log-format text|json]
//
// It serves until SIGTERM or SIGINT, then closes its connections and its
// stores and exits 0.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/ioserver"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "ferryd:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := pflag.NewFlagSet("ferryd", pflag.ContinueOnError)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintln(os.Stdout, "usage: ferryd --config FILE --id N [flags]\n\nRuns Ferry I/O server N of the config in the foreground until SIGTERM/SIGINT.\n\nFlags:")
		fs.SetOutput(os.Stdout)
		fs.PrintDefaults()
	}
	cfgPath := fs.String("config", "", "config `FILE` (TOML), as written by 'ferry genconfig'")
	id := fs.Int("id", -1, "this server's id in the config")
	level := fs.String("log-level", "info", "log `level`: debug, info, warn, error")
	format := fs.String("log-format", "text", "log `format`: text or json")
	metrics := fs.String("metrics-address", "", "serve Prometheus metrics on `HOST:PORT`/metrics (default the config's metrics_address; none if both are empty)")
	if err := fs.Parse(longDashes(args)); err != nil {
		return err
	}
	if *cfgPath == "" || *id < 0 {
		return fmt.Errorf("--config and --id are required (see ferryd --help)")
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	hopts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	switch *format {
	case "text":
		h = slog.NewTextHandler(os.Stderr, hopts)
	case "json":
		h = slog.NewJSONHandler(os.Stderr, hopts)
	default:
		return fmt.Errorf("--log-format %q: want text or json", *format)
	}
	log := slog.New(h)

	// Catch signals before opening fabrics: that takes seconds, and a stop
	// asked for meanwhile must not be lost.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	srv, err := ioserver.New(ioserver.Options{Config: cfg, ID: *id, Logger: log})
	if err != nil {
		return err
	}
	ln, err := srv.Listen()
	if err != nil {
		srv.Close()
		return err
	}
	maddr := *metrics
	if maddr == "" {
		maddr = cfg.Servers[*id].MetricsAddress
	}
	if maddr != "" {
		stopMetrics, err := serveMetrics(maddr, srv, log)
		if err != nil {
			ln.Close()
			srv.Close()
			return err
		}
		defer stopMetrics()
	}
	serveErr := srv.Serve(ctx, ln)
	log.Info("shutting down")
	if err := srv.Close(); err != nil && serveErr == nil {
		serveErr = err
	}
	return serveErr
}

// serveMetrics serves the server's metrics on addr until the returned
// function is called.
func serveMetrics(addr string, srv *ioserver.Server, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", srv.MetricsHandler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint stopped", "err", err)
		}
	}()
	log.Info("serving metrics", "address", ln.Addr().String(), "path", "/metrics")
	return func() { hs.Close() }, nil
}

// longDashes keeps the one-dash spellings of the Go flag package working
// (-config FILE, -id=0); arguments after "--" are left alone.
func longDashes(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			if name, _, _ := strings.Cut(a[1:], "="); len(name) > 1 {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}
