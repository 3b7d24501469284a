package viz

import (
	"image"
	"image/color"
	"image/draw"

	xdraw "golang.org/x/image/draw"
)

// Panel is one cell of a [Grid]: an image with a label under it. A panel
// without an image shows its label, in bold, in the image's place (the
// answer in a few-shot display, say).
type Panel struct {
	Image image.Image
	Label string
}

// GridOptions lays out a [Grid].
type GridOptions struct {
	// Cols is the number of panels per row; 0 puts every panel in one
	// row.
	Cols int
	// Cell is the side of the square each image is scaled to fit, in
	// pixels; 0 means the largest width and height among the images
	// (96 when no panel has one). Integer upscaling keeps pixels sharp;
	// other factors use Catmull-Rom.
	Cell int
	// Title, when not empty, is drawn above the panels.
	Title string
}

// Grid layout constants in pixels.
const (
	margin   = 14 // around the whole picture
	gapX     = 12 // between columns
	gapY     = 14 // between rows
	labelGap = 5  // between an image and its label
)

var (
	white     = color.RGBA{0xff, 0xff, 0xff, 0xff}
	ink       = color.RGBA{0x22, 0x22, 0x22, 0xff}
	softInk   = color.RGBA{0x55, 0x55, 0x55, 0xff}
	paleFrame = color.RGBA{0xd8, 0xd8, 0xd8, 0xff}
)

// Grid draws the panels left to right, top to bottom, on a white
// picture, each label wrapped to its panel's width and centred.
func Grid(panels []Panel, opt GridOptions) *image.RGBA {
	cols := opt.Cols
	if cols <= 0 || cols > len(panels) {
		cols = max(1, len(panels))
	}
	rows := (len(panels) + cols - 1) / cols
	cw, ch := opt.Cell, opt.Cell
	if cw <= 0 {
		cw, ch = 0, 0
		for _, p := range panels {
			if p.Image != nil {
				cw, ch = max(cw, p.Image.Bounds().Dx()), max(ch, p.Image.Bounds().Dy())
			}
		}
		if cw == 0 {
			cw, ch = 96, 96
		}
	}
	labelLines := 0
	wrapped := make([][]string, len(panels))
	for i, p := range panels {
		if p.Image == nil {
			wrapped[i] = wrap(p.Label, cw-8)
			continue
		}
		if p.Label != "" {
			wrapped[i] = wrap(p.Label, cw)
			labelLines = max(labelLines, len(wrapped[i]))
		}
	}
	labelH := 0
	if labelLines > 0 {
		labelH = labelGap + labelLines*lineHeight
	}
	width := 2*margin + cols*cw + (cols-1)*gapX
	var titleLines []string
	top := margin
	if opt.Title != "" {
		titleLines = wrap(opt.Title, width-2*margin)
		top += len(titleLines)*lineHeight + 8
	}
	height := top + rows*(ch+labelH) + max(0, rows-1)*gapY + margin
	dst := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(dst, dst.Bounds(), image.NewUniform(white), image.Point{}, draw.Src)
	for i, line := range titleLines {
		drawText(dst, margin, margin+i*lineHeight, line, ink, true)
	}
	for i, p := range panels {
		x := margin + (i%cols)*(cw+gapX)
		y := top + (i/cols)*(ch+labelH+gapY)
		cell := image.Rect(x, y, x+cw, y+ch)
		if p.Image == nil {
			frame(dst, cell, paleFrame)
			ty := y + (ch-len(wrapped[i])*lineHeight)/2
			for j, line := range wrapped[i] {
				drawTextCentered(dst, x+cw/2, ty+j*lineHeight, line, ink, true)
			}
			continue
		}
		drawFitted(dst, cell, p.Image)
		for j, line := range wrapped[i] {
			drawTextCentered(dst, x+cw/2, y+ch+labelGap+j*lineHeight, line, softInk, false)
		}
	}
	return dst
}

// drawFitted scales src to fit inside cell, keeping its aspect ratio, and
// draws it centred there.
func drawFitted(dst *image.RGBA, cell image.Rectangle, src image.Image) {
	sb := src.Bounds()
	sw, sh := sb.Dx(), sb.Dy()
	if sw == 0 || sh == 0 {
		return
	}
	w, h := cell.Dx(), sh*cell.Dx()/sw
	if h > cell.Dy() {
		w, h = sw*cell.Dy()/sh, cell.Dy()
	}
	at := cell.Min.Add(image.Pt((cell.Dx()-w)/2, (cell.Dy()-h)/2))
	r := image.Rectangle{Min: at, Max: at.Add(image.Pt(w, h))}
	var scaler xdraw.Scaler = xdraw.CatmullRom
	if w%sw == 0 && h%sh == 0 && w/sw == h/sh {
		scaler = xdraw.NearestNeighbor
	}
	scaler.Scale(dst, r, src, sb, xdraw.Over, nil)
}

// frame draws a one-pixel rectangle just inside r.
func frame(dst *image.RGBA, r image.Rectangle, c color.RGBA) {
	for x := r.Min.X; x < r.Max.X; x++ {
		dst.SetRGBA(x, r.Min.Y, c)
		dst.SetRGBA(x, r.Max.Y-1, c)
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		dst.SetRGBA(r.Min.X, y, c)
		dst.SetRGBA(r.Max.X-1, y, c)
	}
}
