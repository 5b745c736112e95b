// Command ferryd runs one Ferry I/O server in the foreground.
//
//	ferryd --config FILE [--id N|auto] [--log-level info] [--log-format text|json]
//
// The id comes from --id, else from this host's name or address matched
// against the config's server addresses, else from the launcher's rank
// (srun, mpiexec), so one command line starts every server of a file
// system. Under systemd (Type=notify) it reports readiness once it
// accepts connections. It serves until SIGTERM, SIGINT or SIGHUP (unless
// started with SIGHUP ignored, as nohup does), then closes its
// connections, fabrics and stores and exits 0.
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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/ferry-hpc/ferry/config"
	"github.com/ferry-hpc/ferry/internal/buildinfo"
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
		fmt.Fprintln(os.Stdout, "usage: ferryd --config FILE [--id N] [flags]\n\n"+
			"Runs one Ferry I/O server of the config in the foreground until SIGTERM, SIGINT or SIGHUP.\n"+
			"Without --id, the server is the one whose address names this host, else the one\n"+
			"numbered by the launcher's rank (SLURM_PROCID, PMI_RANK, OMPI_COMM_WORLD_RANK).\n\nFlags:")
		fs.SetOutput(os.Stdout)
		fs.PrintDefaults()
	}
	cfgPath := fs.String("config", "", "config `FILE` (TOML), as written by 'ferry genconfig'")
	idFlag := fs.String("id", "", "this server's `id` in the config; empty or auto: from the host name or the launcher's rank")
	level := fs.String("log-level", "info", "log `level`: debug, info, warn, error")
	format := fs.String("log-format", "text", "log `format`: text or json")
	metrics := fs.String("metrics-address", "", "serve Prometheus metrics on `HOST:PORT`/metrics (default the config's metrics_address; none if both are empty)")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(longDashes(args)); err != nil {
		return err
	}
	if *version {
		fmt.Println("ferryd", buildinfo.String())
		return nil
	}
	if *cfgPath == "" {
		return fmt.Errorf("--config is required (see ferryd --help)")
	}
	id := -1
	if *idFlag != "" && *idFlag != "auto" {
		// systemd's ferryd@N.service passes N; ferryd@auto.service, "auto".
		n, err := strconv.Atoi(*idFlag)
		if err != nil || n < 0 {
			return fmt.Errorf("--id %q: want a server id or auto", *idFlag)
		}
		id = n
	}
	log, err := newLogger(*level, *format)
	if err != nil {
		return err
	}

	// Catch signals before opening fabrics: that takes seconds, and a stop
	// asked for meanwhile must not be lost. SIGHUP (the terminal of a
	// server run by hand went away) stops it cleanly too: ferryd has no
	// config to reload, and dying of it left its fabrics' regions behind.
	// Unless it was started with SIGHUP ignored (nohup): catching it
	// would undo that.
	stopOn := []os.Signal{syscall.SIGTERM, syscall.SIGINT}
	if !signal.Ignored(syscall.SIGHUP) {
		stopOn = append(stopOn, syscall.SIGHUP)
	}
	ctx, stop := signal.NotifyContext(context.Background(), stopOn...)
	defer stop()
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	sid, how, err := resolveID(cfg, id, hostNames(), os.Getenv)
	if err != nil {
		return err
	}
	log.Info("starting", "version", buildinfo.Full(), "id", sid, "id_from", how, "config", *cfgPath)
	srv, err := ioserver.New(ioserver.Options{Config: cfg, ID: sid, Logger: log, Version: buildinfo.Full()})
	if err != nil {
		return err
	}
	ln, err := srv.Listen()
	if err != nil {
		srv.CloseUnserved()
		return err
	}
	maddr := *metrics
	if maddr == "" {
		maddr = cfg.Servers[sid].MetricsAddress
	}
	if maddr != "" {
		stopMetrics, err := serveMetrics(maddr, srv, log)
		if err != nil {
			ln.Close()
			srv.CloseUnserved()
			return err
		}
		defer stopMetrics()
	}
	notify(log, fmt.Sprintf("READY=1\nSTATUS=serving as server %d on %s", sid, cfg.Servers[sid].Address))
	serveErr := srv.Serve(ctx, ln)
	notify(log, "STOPPING=1")
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

func newLogger(level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	hopts := &slog.HandlerOptions{Level: lvl}
	if os.Getenv("JOURNAL_STREAM") != "" {
		// stderr is the journal, which stamps each line itself.
		hopts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, hopts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
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
