package main

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ferry-hpc/ferry/config"
)

func init() { addCommand(newGenconfigCmd) }

func newGenconfigCmd(e *env) *cobra.Command {
	var servers, storage, keyFile string
	var count, meta int
	var strip int64
	cmd := newCommand("genconfig --servers HOST:PORT,... --storage DIR --key-file FILE [flags]", "print a config for a set of servers (TOML)",
		"Prints a Ferry config for the given servers; server i stores its datafiles in DIR/server<i>.",
		0, 0, func(*cobra.Command, []string) error {
			return runGenconfig(e, servers, storage, keyFile, strip, count, meta)
		})
	fs := cmd.Flags()
	fs.StringVar(&servers, "servers", "", "comma-separated `HOST:PORT` of each server, in id order (required)")
	fs.StringVar(&storage, "storage", "", "storage directory root `DIR` (required)")
	sizeVar(fs, &strip, "strip-size", config.DefaultStripSize, false, "default strip size of new files, e.g. 1M")
	fs.IntVar(&count, "strip-count", 0, "default servers per file (0: all)")
	fs.IntVar(&meta, "metadata-server", 0, "id of the server that runs the metadata service")
	fs.StringVar(&keyFile, "key-file", "", "the file system key every server reads (required); written, random and mode 0600, if it does not exist: copy it to every server's host")
	return cmd
}

func runGenconfig(e *env, servers, storage, keyFile string, strip int64, count, meta int) error {
	if servers == "" || storage == "" || keyFile == "" {
		return usageError{fmt.Errorf("--servers, --storage and --key-file are required")}
	}
	cfg, err := config.Generate(strings.Split(servers, ","), storage, strip)
	if err != nil {
		return err
	}
	cfg.StripCount = count
	cfg.MetadataServer = meta
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.KeyFile, err = filepath.Abs(keyFile); err != nil {
		return err
	}
	if err := config.WriteKey(cfg.KeyFile); err != nil && !errors.Is(err, iofs.ErrExist) {
		return err
	} else if err == nil {
		fmt.Fprintf(e.stderr, "ferry genconfig: wrote a new key to %s\n", cfg.KeyFile)
	}
	b, err := cfg.Encode()
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(b)
	return err
}
