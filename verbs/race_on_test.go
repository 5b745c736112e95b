//go:build race

package verbs

// raceEnabled shrinks the largest transfers, which are slow to check under -race.
const raceEnabled = true
