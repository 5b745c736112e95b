package main

import (
	"os"
	"testing"

	"github.com/ferry-hpc/ferry/internal/testcluster"
)

// TestMain removes the programs the tests built once they are done.
func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }
