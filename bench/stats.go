package bench

import (
	"math"
	"sort"
)

// Summary is the median and spread of repeated measurements.
type Summary struct {
	N      int
	Median float64
	Min    float64
	Max    float64
	Q1, Q3 float64 // quartiles (linear interpolation between order statistics)
}

// Summarize computes the summary of xs (NaNs are dropped). An empty input
// gives N = 0 and NaN figures.
func Summarize(xs []float64) Summary {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		n := math.NaN()
		return Summary{Median: n, Min: n, Max: n, Q1: n, Q3: n}
	}
	sort.Float64s(v)
	return Summary{
		N:      len(v),
		Median: quantile(v, 0.5),
		Min:    v[0],
		Max:    v[len(v)-1],
		Q1:     quantile(v, 0.25),
		Q3:     quantile(v, 0.75),
	}
}

// quantile of sorted v at q in [0,1], interpolating linearly (type 7, as R
// and numpy default).
func quantile(v []float64, q float64) float64 {
	if len(v) == 1 {
		return v[0]
	}
	h := q * float64(len(v)-1)
	lo := math.Floor(h)
	i := int(lo)
	if i >= len(v)-1 {
		return v[len(v)-1]
	}
	return v[i] + (h-lo)*(v[i+1]-v[i])
}

// Spread is (max-min)/median, a unitless measure of noise.
func (s Summary) Spread() float64 {
	if s.N == 0 || s.Median == 0 {
		return math.NaN()
	}
	return (s.Max - s.Min) / s.Median
}

// ratio returns a/b, NaN when either is missing or b is zero.
func ratio(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return math.NaN()
	}
	return a / b
}
