package viz

import (
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// seriesPixels returns, per column, the row of a line drawn in colour c
// over white (the mean of the rows weighted by how much of c each pixel
// shows), or NaN where the column has none of it.
func seriesPixels(img *image.RGBA, c color.RGBA) []float64 {
	b := img.Bounds()
	d := [3]float64{255 - float64(c.R), 255 - float64(c.G), 255 - float64(c.B)}
	norm := d[0]*d[0] + d[1]*d[1] + d[2]*d[2]
	rows := make([]float64, b.Dx())
	for x := range b.Dx() {
		sum, weight := 0.0, 0.0
		for y := range b.Dy() {
			p := img.RGBAAt(x, y)
			q := [3]float64{255 - float64(p.R), 255 - float64(p.G), 255 - float64(p.B)}
			a := (q[0]*d[0] + q[1]*d[1] + q[2]*d[2]) / norm
			off := 0.0
			for k := range 3 {
				off = math.Max(off, math.Abs(q[k]-a*d[k]))
			}
			if a > 0.25 && off < 8 {
				sum += a * float64(y)
				weight += a
			}
		}
		rows[x] = math.NaN()
		if weight > 0 {
			rows[x] = sum / weight
		}
	}
	return rows
}

// span returns the first and last columns that hold a value.
func span(rows []float64) (first, last int) {
	first, last = -1, -1
	for x, r := range rows {
		if !math.IsNaN(r) {
			if first < 0 {
				first = x
			}
			last = x
		}
	}
	return first, last
}

func TestChartSize(t *testing.T) {
	tests := []struct {
		name string
		c    Chart
		want image.Rectangle
	}{
		{"default", Chart{}, image.Rect(0, 0, 720, 440)},
		{"requested", Chart{Width: 300, Height: 200, Title: "t", XLabel: "x", YLabel: "y", Series: []Series{{Name: "a", Y: []float64{1, 2}}}}, image.Rect(0, 0, 300, 200)},
		{"too small for a plot", Chart{Width: 40, Height: 30, Series: []Series{{Y: []float64{1}}}}, image.Rect(0, 0, 40, 30)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.c.Render().Bounds())
		})
	}
}

func TestChartSeriesPixels(t *testing.T) {
	blue, orange := seriesColors[0], seriesColors[1]
	// Unnamed series: no legend swatches to confuse seriesPixels.
	rising := Series{X: []float64{0, 10}, Y: []float64{0, 10}}
	flat := Series{X: []float64{0, 10}, Y: []float64{5, 5}}
	img := Chart{Width: 400, Height: 300, Series: []Series{rising, flat}}.Render()

	up := seriesPixels(img, blue)
	first, last := span(up)
	require.Positive(t, first)
	require.Greater(t, last, first+200, "the line spans the plot")
	// The rising line goes up (smaller rows) from left to right, straight.
	assert.Greater(t, up[first+2], up[last-2]+150)
	a, b := first+2, last-2
	q := (3*a + b) / 4
	assert.InDelta(t, up[a]+(up[b]-up[a])*float64(q-a)/float64(b-a), up[q], 1.5)
	mid := (a + b) / 2

	// The flat line is level and crosses the rising one in the middle.
	level := seriesPixels(img, orange)
	assert.InDelta(t, level[first+5], level[last-5], 0.5)
	assert.InDelta(t, level[mid], (up[first+2]+up[last-2])/2, 3)
}

func TestChartLogY(t *testing.T) {
	s := Series{Y: []float64{100, 10, 1, 0.1, 0.01}}
	img := Chart{Width: 400, Height: 300, LogY: true, Series: []Series{s}}.Render()
	rows := seriesPixels(img, seriesColors[0])
	first, last := span(rows)
	mid := (first + last) / 2
	// Straight on a log axis: the middle point (1) is halfway.
	assert.InDelta(t, (rows[first+2]+rows[last-2])/2, rows[mid], 2)
	assert.Less(t, rows[first+2], rows[last-2], "decreasing values go down")

	linear := Chart{Width: 400, Height: 300, Series: []Series{s}}.Render()
	lrows := seriesPixels(linear, seriesColors[0])
	assert.Greater(t, lrows[mid], (lrows[first+2]+lrows[last-2])/2+50, "on a linear axis it is far from straight")
}

func TestChartGaps(t *testing.T) {
	y := make([]float64, 21)
	for i := range y {
		y[i] = float64(i % 3)
	}
	y[9], y[10], y[11] = math.NaN(), math.Inf(1), math.NaN()
	img := Chart{Width: 420, Height: 300, Series: []Series{{Y: y}}}.Render()
	rows := seriesPixels(img, seriesColors[0])
	first, last := span(rows)
	mid := (first + last) / 2
	assert.True(t, math.IsNaN(rows[mid]), "no line across the missing values")
	assert.False(t, math.IsNaN(rows[first+20]))
	assert.False(t, math.IsNaN(rows[last-20]))
}

func TestChartRejectsMismatchedSeries(t *testing.T) {
	c := Chart{Series: []Series{{Name: "bad", X: []float64{1, 2}, Y: []float64{1}}}}
	assert.Panics(t, func() { c.Render() })
}

func TestLinearTicks(t *testing.T) {
	labels := func(ts []tick) []string {
		var out []string
		for _, t := range ts {
			out = append(out, t.label)
		}
		return out
	}
	tests := []struct {
		lo, hi float64
		n      int
		want   []string
	}{
		{0, 10, 5, []string{"0", "2", "4", "6", "8", "10"}},
		{-0.05, 1.03, 5, []string{"0", "0.2", "0.4", "0.6", "0.8", "1.0"}},
		{0, 2990, 6, []string{"0", "500", "1000", "1500", "2000", "2500"}},
		{0.123, 0.127, 4, []string{"0.123", "0.124", "0.125", "0.126", "0.127"}},
		{0, 3e6, 3, []string{"0", "1e6", "2e6", "3e6"}},
		{-1, 1, 2, []string{"-1", "0", "1"}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, labels(linearTicks(tt.lo, tt.hi, tt.n)), "%v..%v", tt.lo, tt.hi)
	}
}

func TestLogTicks(t *testing.T) {
	labelled := func(ts []tick) []string {
		var out []string
		for _, t := range ts {
			if t.label != "" {
				out = append(out, t.label)
			}
		}
		return out
	}
	tests := []struct {
		name   string
		lo, hi float64
		n      int
		want   []string
		minor  int
	}{
		{"decades", -2.1, 1.1, 8, []string{"0.01", "0.1", "1", "10"}, 4*8 - 1 - 5},
		{"under two decades adds 2 and 5", -0.9, 0.5, 8, []string{"0.2", "0.5", "1", "2"}, 0},
		{"crowded decades thin out", -12, 12, 6, []string{"1e-12", "1e-8", "1e-4", "1", "10000", "1e8", "1e12"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := logTicks(tt.lo, tt.hi, tt.n)
			assert.Equal(t, tt.want, labelled(ts))
			if tt.minor > 0 {
				assert.Len(t, ts, len(tt.want)+tt.minor)
			}
		})
	}
}

func TestChartLegend(t *testing.T) {
	img := Chart{Width: 300, Height: 200, Series: []Series{{Name: "loss", Y: []float64{1, 2}}}}.Render()
	n := 0
	for y := margin; y < margin+lineHeight+4; y++ {
		for x := range 300 {
			if img.RGBAAt(x, y) == seriesColors[0] {
				n++
			}
		}
	}
	assert.Equal(t, swatchLen*lineWidth, n, "one swatch in the legend row")
}
