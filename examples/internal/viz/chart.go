package viz

import (
	"image"
	"image/color"
	"image/draw"
	"math"
	"strconv"
	"strings"

	"github.com/govlm/vlm"
	"golang.org/x/image/vector"
)

// Series is one named line of a [Chart].
type Series struct {
	Name string
	// X holds the horizontal positions; nil means 0, 1, 2, ... . When
	// set it must be as long as Y.
	X []float64
	// Y holds the values. NaN and infinite values, and values <= 0 on a
	// logarithmic axis, leave a gap in the line.
	Y []float64
}

// Chart is a line chart. The zero value of every field but Series is a
// sensible default.
type Chart struct {
	Title, XLabel, YLabel string
	Series                []Series
	// LogY makes the y axis logarithmic (base 10).
	LogY bool
	// Width and Height are the picture's size in pixels; 0 means 720
	// and 440.
	Width, Height int
}

// seriesColors is matplotlib's tab10 cycle.
var seriesColors = [...]color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff},
	{0xd6, 0x27, 0x28, 0xff}, {0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff},
	{0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff}, {0xbc, 0xbd, 0x22, 0xff},
	{0x17, 0xbe, 0xcf, 0xff},
}

// Chart colours and sizes in pixels.
var (
	gridLine  = color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
	minorLine = color.RGBA{0xf2, 0xf2, 0xf2, 0xff}
	axisLine  = color.RGBA{0x80, 0x80, 0x80, 0xff}
)

const (
	lineWidth = 2
	tickLen   = 4
	swatchLen = 22
)

// tick is an axis position with its label; minor ticks have none.
type tick struct {
	at    float64 // in axis units (log10 of the value on a log axis)
	label string
}

// Render draws the chart: the title, a legend row under it, the series
// as lines in the colours of matplotlib's tab10 cycle, grid lines at the
// ticks, and the axes with their labels. The axes span the data's x
// range and its y range padded by 5%. It panics with a vlm.ErrShape
// error if a series's X and Y lengths differ.
func (c Chart) Render() *image.RGBA {
	W, H := c.Width, c.Height
	if W <= 0 {
		W = 720
	}
	if H <= 0 {
		H = 440
	}
	for _, s := range c.Series {
		if s.X != nil && len(s.X) != len(s.Y) {
			vlm.Panicf(vlm.ErrShape, "viz.Chart: series %q has %d x and %d y values", s.Name, len(s.X), len(s.Y))
		}
	}
	lh := lineHeight
	dst := image.NewRGBA(image.Rect(0, 0, W, H))
	draw.Draw(dst, dst.Bounds(), image.NewUniform(white), image.Point{}, draw.Src)

	// Title and legend, top down.
	top := margin
	if c.Title != "" {
		for _, line := range wrap(c.Title, W-2*margin) {
			drawTextCentered(dst, W/2, top, line, ink, true)
			top += lh
		}
		top += 6
	}
	top = c.drawLegend(dst, top, W) + 4

	// Axis ranges and ticks; the y tick labels set the left margin.
	xlo, xhi, ylo, yhi := c.ranges()
	bottom := H - margin - lh - tickLen - 2
	if c.XLabel != "" {
		bottom -= lh + 4
	}
	var yticks []tick
	if c.LogY {
		yticks = logTicks(ylo, yhi, max(2, (bottom-top)/45))
	} else {
		yticks = linearTicks(ylo, yhi, max(2, (bottom-top)/45))
	}
	left := margin + tickLen + 4
	for _, t := range yticks {
		left = max(left, margin+textWidth(t.label)+tickLen+4)
	}
	if c.YLabel != "" {
		left += lh + 6
	}
	right := W - margin - 10
	if right-left < 10 || bottom-top < 10 {
		return dst // too small for a plot
	}
	plot := image.Rect(left, top, right, bottom)
	xticks := linearTicks(xlo, xhi, max(2, plot.Dx()/90))
	px := func(x float64) float64 { return float64(plot.Min.X) + (x-xlo)/(xhi-xlo)*float64(plot.Dx()) }
	py := func(y float64) float64 { return float64(plot.Max.Y) - (y-ylo)/(yhi-ylo)*float64(plot.Dy()) }

	// Grid, minor lines first so major lines cover them.
	for _, minor := range []bool{true, false} {
		for _, t := range yticks {
			if (t.label == "") != minor {
				continue
			}
			col := gridLine
			if minor {
				col = minorLine
			}
			hline(dst, plot.Min.X, plot.Max.X, int(math.Round(py(t.at))), col)
		}
	}
	for _, t := range xticks {
		vline(dst, int(math.Round(px(t.at))), plot.Min.Y, plot.Max.Y, gridLine)
	}

	// Series, clipped to the plot area.
	z := vector.NewRasterizer(plot.Dx(), plot.Dy())
	for i, s := range c.Series {
		z.Reset(plot.Dx(), plot.Dy())
		var run [][2]float32
		flush := func() {
			stroke(z, run, lineWidth)
			run = run[:0]
		}
		for j, y := range s.Y {
			x := float64(j)
			if s.X != nil {
				x = s.X[j]
			}
			if c.LogY {
				y = math.Log10(y) // NaN or -Inf for y <= 0
			}
			if math.IsNaN(x) || math.IsInf(x, 0) || math.IsNaN(y) || math.IsInf(y, 0) {
				flush()
				continue
			}
			run = append(run, [2]float32{float32(px(x) - float64(plot.Min.X)), float32(py(y) - float64(plot.Min.Y))})
		}
		flush()
		z.Draw(dst, plot, image.NewUniform(seriesColors[i%len(seriesColors)]), image.Point{})
	}

	// Axes, ticks and labels.
	hline(dst, plot.Min.X, plot.Max.X, plot.Max.Y, axisLine)
	vline(dst, plot.Min.X, plot.Min.Y, plot.Max.Y+1, axisLine)
	for _, t := range yticks {
		if t.label == "" {
			continue
		}
		y := int(math.Round(py(t.at)))
		hline(dst, plot.Min.X-tickLen, plot.Min.X, y, axisLine)
		drawText(dst, plot.Min.X-tickLen-3-textWidth(t.label), y-lh/2, t.label, softInk, false)
	}
	for _, t := range xticks {
		x := int(math.Round(px(t.at)))
		vline(dst, x, plot.Max.Y, plot.Max.Y+tickLen, axisLine)
		drawTextCentered(dst, x, plot.Max.Y+tickLen+2, t.label, softInk, false)
	}
	if c.XLabel != "" {
		drawTextCentered(dst, (plot.Min.X+plot.Max.X)/2, plot.Max.Y+tickLen+2+lh+4, c.XLabel, ink, false)
	}
	if c.YLabel != "" {
		drawTextUp(dst, margin, (plot.Min.Y+plot.Max.Y)/2, c.YLabel, ink)
	}
	return dst
}

// drawLegend draws one entry per named series, a colour swatch and the
// name, in centred rows starting at y, and returns the y below them.
func (c Chart) drawLegend(dst *image.RGBA, y, W int) int {
	type entry struct {
		name string
		col  color.RGBA
		w    int
	}
	var rows [][]entry
	var widths []int
	for i, s := range c.Series {
		if s.Name == "" {
			continue
		}
		e := entry{s.Name, seriesColors[i%len(seriesColors)], swatchLen + 5 + textWidth(s.Name)}
		if n := len(rows); n == 0 || widths[n-1]+18+e.w > W-2*margin {
			rows = append(rows, nil)
			widths = append(widths, -18)
		}
		n := len(rows) - 1
		rows[n] = append(rows[n], e)
		widths[n] += 18 + e.w
	}
	lh := lineHeight + 4
	for r, row := range rows {
		x := (W - widths[r]) / 2
		for _, e := range row {
			mid := y + lh/2
			for k := range lineWidth {
				hline(dst, x, x+swatchLen, mid-lineWidth/2+k, e.col)
			}
			drawText(dst, x+swatchLen+5, y+2, e.name, ink, false)
			x += e.w + 18
		}
		y += lh
	}
	return y
}

// ranges returns the axis ranges: x spans the finite data, y spans it
// padded by 5% on each side (in log10 units on a log axis).
func (c Chart) ranges() (xlo, xhi, ylo, yhi float64) {
	xlo, ylo = math.Inf(1), math.Inf(1)
	xhi, yhi = math.Inf(-1), math.Inf(-1)
	for _, s := range c.Series {
		for j, y := range s.Y {
			x := float64(j)
			if s.X != nil {
				x = s.X[j]
			}
			if c.LogY {
				y = math.Log10(y)
			}
			if math.IsNaN(x) || math.IsInf(x, 0) || math.IsNaN(y) || math.IsInf(y, 0) {
				continue
			}
			xlo, xhi = math.Min(xlo, x), math.Max(xhi, x)
			ylo, yhi = math.Min(ylo, y), math.Max(yhi, y)
		}
	}
	if xlo > xhi {
		xlo, xhi, ylo, yhi = 0, 1, 0, 1
	}
	if xlo == xhi {
		xlo, xhi = xlo-1, xhi+1
	}
	if ylo == yhi {
		pad := math.Max(math.Abs(ylo)*0.1, 1)
		if c.LogY {
			pad = 0.5
		}
		return xlo, xhi, ylo - pad, yhi + pad
	}
	pad := 0.05 * (yhi - ylo)
	return xlo, xhi, ylo - pad, yhi + pad
}

// linearTicks returns labelled ticks at multiples of a round step (1, 2
// or 5 times a power of ten) inside [lo, hi], as close to n of them as
// such steps allow.
func linearTicks(lo, hi float64, n int) []tick {
	span := hi - lo
	mag := math.Pow(10, math.Floor(math.Log10(span/float64(n))))
	step, best := mag, math.Inf(1)
	for _, m := range []float64{1, 2, 5, 10} {
		if d := math.Abs(span/(m*mag) - float64(n)); d < best {
			step, best = m*mag, d
		}
	}
	decimals := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	var ticks []tick
	for k := math.Ceil(lo/step - 1e-9); k*step <= hi+1e-9*step; k++ {
		v := k * step
		ticks = append(ticks, tick{v, formatTick(v, decimals)})
	}
	return ticks
}

// logTicks returns ticks for a log axis spanning [lo, hi] in log10 units:
// labelled powers of ten (every second or fifth one when there are many),
// unlabelled minor ticks at 2..9 times them, and, when fewer than two
// powers fall inside, labelled ticks at 2 and 5 times them as well.
func logTicks(lo, hi float64, n int) []tick {
	var ticks []tick
	k0, k1 := int(math.Floor(lo)), int(math.Ceil(hi))
	every := 1
	for (k1-k0)/every > n {
		every++
	}
	powers := 0
	for k := k0; k <= k1; k++ {
		if float64(k) >= lo && float64(k) <= hi {
			powers++
		}
	}
	for k := k0; k <= k1; k++ {
		for m := 1; m <= 9; m++ {
			at := float64(k) + math.Log10(float64(m))
			if at < lo || at > hi {
				continue
			}
			t := tick{at: at}
			switch {
			case m == 1 && k%every == 0:
				t.label = formatPow(m, k)
			case (m == 2 || m == 5) && powers < 2:
				t.label = formatPow(m, k)
			case every > 1:
				continue // no minor ticks when decades are crowded
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// formatTick formats a linear tick value with the given decimals, or in
// exponent notation for very large or small values.
func formatTick(v float64, decimals int) string {
	if v == 0 {
		return "0"
	}
	if a := math.Abs(v); a >= 1e6 || a < 1e-4 {
		return shortExp(strconv.FormatFloat(v, 'e', -1, 64))
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

// formatPow formats m·10^k as a plain number when it is short, otherwise
// as "2e-5".
func formatPow(m, k int) string {
	v := float64(m) * math.Pow10(k)
	if k >= -3 && k <= 4 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return shortExp(strconv.FormatFloat(v, 'e', -1, 64))
}

// shortExp turns Go's "1e+06" and "2e-05" into "1e6" and "2e-5".
func shortExp(s string) string {
	mant, exp, ok := strings.Cut(s, "e")
	if !ok {
		return s
	}
	sign := ""
	if exp[0] == '-' {
		sign = "-"
	}
	return mant + "e" + sign + strings.TrimLeft(exp[1:], "0")
}

// stroke adds a polyline of the given width to z: a rectangle per segment
// and a disc at every inner vertex, all wound the same way so their union
// fills once. A single point becomes a dot.
func stroke(z *vector.Rasterizer, pts [][2]float32, width float32) {
	hw := width / 2
	if len(pts) == 1 {
		disc(z, pts[0], width)
		return
	}
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		dx, dy := b[0]-a[0], b[1]-a[1]
		l := float32(math.Hypot(float64(dx), float64(dy)))
		if l == 0 {
			continue
		}
		nx, ny := -dy/l*hw, dx/l*hw
		z.MoveTo(a[0]+nx, a[1]+ny)
		z.LineTo(b[0]+nx, b[1]+ny)
		z.LineTo(b[0]-nx, b[1]-ny)
		z.LineTo(a[0]-nx, a[1]-ny)
		z.ClosePath()
		if i < len(pts)-1 {
			disc(z, b, hw)
		}
	}
}

// disc adds a circle of radius r around p, wound like stroke's
// rectangles.
func disc(z *vector.Rasterizer, p [2]float32, r float32) {
	const n = 12
	for i := range n {
		a := -2 * math.Pi * float64(i) / n
		x, y := p[0]+r*float32(math.Cos(a)), p[1]+r*float32(math.Sin(a))
		if i == 0 {
			z.MoveTo(x, y)
		} else {
			z.LineTo(x, y)
		}
	}
	z.ClosePath()
}

// hline draws a one-pixel horizontal line from x0 to x1 (exclusive) at y.
func hline(dst *image.RGBA, x0, x1, y int, c color.RGBA) {
	for x := x0; x < x1; x++ {
		dst.SetRGBA(x, y, c)
	}
}

// vline draws a one-pixel vertical line from y0 to y1 (exclusive) at x.
func vline(dst *image.RGBA, x, y0, y1 int, c color.RGBA) {
	for y := y0; y < y1; y++ {
		dst.SetRGBA(x, y, c)
	}
}
