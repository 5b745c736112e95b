package main

import (
	"fmt"
	"strings"

	"github.com/ferry-hpc/ferry/config"
)

func init() {
	register("genconfig", "print a config for a set of servers (TOML)", runGenconfig)
}

func runGenconfig(e *env, args []string) error {
	fs := newFlags(e, "genconfig", "", "Prints a Ferry config for the given servers; server i stores its datafiles in DIR/server<i>.")
	servers := fs.String("servers", "", "comma-separated HOST:PORT of each server, in id order (required)")
	storage := fs.String("storage", "", "storage directory root (required)")
	strip := fs.Int64("strip-size", config.DefaultStripSize, "default strip size of new files, bytes")
	count := fs.Int("strip-count", 0, "default servers per file (0: all)")
	meta := fs.Int("metadata-server", 0, "id of the server that runs the metadata service")
	if err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *servers == "" || *storage == "" {
		fs.Usage()
		return usageError{fmt.Errorf("--servers and --storage are required")}
	}
	cfg, err := config.Generate(strings.Split(*servers, ","), *storage, *strip)
	if err != nil {
		return err
	}
	cfg.StripCount = *count
	cfg.MetadataServer = *meta
	if err := cfg.Validate(); err != nil {
		return err
	}
	b, err := cfg.Encode()
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(b)
	return err
}
