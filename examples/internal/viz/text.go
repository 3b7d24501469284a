package viz

import (
	"image"
	"image/color"
	"image/draw"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// face is the font of every text: a fixed 7x13 bitmap, read-only and so
// safe for concurrent use.
var face font.Face = basicfont.Face7x13

// lineHeight is the distance between baselines of consecutive lines.
const lineHeight = 15

// textWidth returns the advance width of s in pixels.
func textWidth(s string) int { return font.MeasureString(face, s).Ceil() }

// drawText draws s with its top-left corner at (x, y); bold draws it a
// second time one pixel to the right.
func drawText(dst draw.Image, x, y int, s string, c color.Color, bold bool) {
	d := font.Drawer{Dst: dst, Src: image.NewUniform(c), Face: face}
	base := y + face.Metrics().Ascent.Ceil() + 1
	d.Dot = fixed.P(x, base)
	d.DrawString(s)
	if bold {
		d.Dot = fixed.P(x+1, base)
		d.DrawString(s)
	}
}

// drawTextCentered draws s horizontally centred on cx, its top at y.
func drawTextCentered(dst draw.Image, cx, y int, s string, c color.Color, bold bool) {
	drawText(dst, cx-textWidth(s)/2, y, s, c, bold)
}

// drawTextUp draws s rotated a quarter turn anticlockwise, reading bottom
// to top, centred vertically on cy, with the glyphs' upper side at x.
func drawTextUp(dst draw.Image, x, cy int, s string, c color.Color) {
	w, h := textWidth(s), lineHeight
	tmp := image.NewRGBA(image.Rect(0, 0, w, h))
	drawText(tmp, 0, 0, s, c, false)
	rot := image.NewRGBA(image.Rect(0, 0, h, w))
	for y := range h {
		for x := range w {
			rot.SetRGBA(y, w-1-x, tmp.RGBAAt(x, y))
		}
	}
	top := cy - w/2
	draw.Draw(dst, image.Rect(x, top, x+h, top+w), rot, image.Point{}, draw.Over)
}

// wrap breaks s into lines no wider than width pixels, at spaces and
// newlines where it can and inside a word only when the word alone is too
// wide.
func wrap(s string, width int) []string {
	perLine := max(1, width/textWidth("m"))
	var lines []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, word := range strings.Fields(para) {
			switch {
			case line == "":
				line = word
			case len([]rune(line))+1+len([]rune(word)) <= perLine:
				line += " " + word
			default:
				lines = append(lines, line)
				line = word
			}
			for rs := []rune(line); len(rs) > perLine; rs = []rune(line) {
				lines = append(lines, string(rs[:perLine]))
				line = string(rs[perLine:])
			}
		}
		lines = append(lines, line)
	}
	return lines
}
