package viz

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/govlm/vlm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWritePNG(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "x.png")
	img := image.NewRGBA(image.Rect(0, 0, 5, 3))
	img.SetRGBA(1, 2, color.RGBA{10, 20, 30, 255})
	require.NoError(t, WritePNG(path, img))
	require.NoError(t, WritePNG(path, img), "overwrites")

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	got, err := png.Decode(f)
	require.NoError(t, err)
	assert.Equal(t, img.Bounds(), got.Bounds())
	assert.Equal(t, color.RGBA{10, 20, 30, 255}, color.RGBAModel.Convert(got.At(1, 2)))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left")
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), info.Mode().Perm())

	assert.Error(t, WritePNG(filepath.Join(path, "y.png"), img), "parent is a file")
}

func TestColormapAt(t *testing.T) {
	tests := []struct {
		name string
		cm   Colormap
		v    float64
		want color.RGBA
	}{
		{"magma low", Magma, 0, color.RGBA{0x00, 0x00, 0x04, 0xff}},
		{"magma high", Magma, 1, color.RGBA{0xfc, 0xfd, 0xbf, 0xff}},
		{"viridis low", Viridis, 0, color.RGBA{0x44, 0x01, 0x54, 0xff}},
		{"viridis middle stop", Viridis, 0.5, color.RGBA{0x21, 0x91, 0x8c, 0xff}},
		{"viridis high", Viridis, 1, color.RGBA{0xfd, 0xe7, 0x25, 0xff}},
		{"grey halfway", Grey, 0.5, color.RGBA{0x80, 0x80, 0x80, 0xff}},
		{"clamped below", Grey, -3, color.RGBA{0, 0, 0, 0xff}},
		{"clamped above", Grey, 7, color.RGBA{0xff, 0xff, 0xff, 0xff}},
		{"NaN", Grey, math.NaN(), color.RGBA{0, 0, 0, 0xff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.cm.At(tt.v))
		})
	}
}

func TestColormapsBrightenMonotonically(t *testing.T) {
	for _, cm := range []Colormap{Magma, Viridis, Grey} {
		prev := -1.0
		for i := range 101 {
			l := luma(cm.At(float64(i) / 100))
			assert.GreaterOrEqual(t, l, prev, "colormap %d at %d%%", cm, i)
			prev = l
		}
	}
}

func luma(c color.RGBA) float64 {
	return 0.299*float64(c.R) + 0.587*float64(c.G) + 0.114*float64(c.B)
}

func TestOverlayOneHotIsBrightestInItsCell(t *testing.T) {
	tests := []struct {
		name       string
		h, w, r, c int
		size       int
		cm         Colormap
	}{
		{"7x7 centre", 7, 7, 3, 3, 112, Magma},
		{"7x7 corner", 7, 7, 0, 6, 112, Viridis},
		{"8x8", 8, 8, 5, 2, 64, Grey},
		{"4x6 on wide image", 4, 6, 1, 4, 96, Magma},
		{"same size", 16, 16, 9, 12, 16, Magma},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			W, H := tt.size*tt.w/tt.h, tt.size
			img := image.NewRGBA(image.Rect(0, 0, W, H))
			for i := 0; i < len(img.Pix); i += 4 {
				copy(img.Pix[i:], []uint8{90, 90, 90, 255})
			}
			att := vlm.Zeros(tt.h, tt.w)
			att.Data[tt.r*tt.w+tt.c] = 1
			out := Overlay(img, att, tt.cm, 0.7)
			require.Equal(t, img.Bounds(), out.Bounds())
			bx, by, best := 0, 0, -1.0
			for y := range H {
				for x := range W {
					if l := luma(out.RGBAAt(x, y)); l > best {
						bx, by, best = x, y, l
					}
				}
			}
			assert.Equal(t, tt.r, by*tt.h/H, "row of the brightest pixel")
			assert.Equal(t, tt.c, bx*tt.w/W, "column of the brightest pixel")
			assert.Greater(t, best, luma(out.RGBAAt((bx+W/2)%W, (by+H/2)%H)))
		})
	}
}

func TestOverlayBlend(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := 0; i < len(img.Pix); i += 4 {
		copy(img.Pix[i:], []uint8{200, 200, 200, 255})
	}
	flat := vlm.Full(1.0/16, 4, 4)
	assert.Equal(t, img.Pix, Overlay(img, flat, Magma, 0).Pix, "alpha 0 keeps the image")
	full := Overlay(img, flat, Grey, 1)
	assert.Equal(t, color.RGBA{0, 0, 0, 0xff}, full.RGBAAt(3, 3), "a constant map becomes 0")
	half := Overlay(img, flat, Grey, 0.5)
	assert.Equal(t, color.RGBA{100, 100, 100, 0xff}, half.RGBAAt(5, 2))
	assert.Panics(t, func() { Overlay(img, vlm.Zeros(16), Magma, 0.5) })
}

func TestUpsample(t *testing.T) {
	flat := upsample(vlm.Full(0.25, 2, 2), 20, 20)
	for _, v := range flat {
		assert.InDelta(t, 0.25, v, 1e-12)
	}
	att := vlm.Zeros(3, 3)
	att.Data[4] = 1
	up := upsample(att, 30, 30)
	assert.InDelta(t, up[10*30+12], up[12*30+10], 1e-12, "symmetric")
	assert.InDelta(t, up[14*30+15], up[15*30+14], 1e-12, "symmetric")
	assert.Greater(t, up[15*30+15], up[15*30+5])
}

func TestWrap(t *testing.T) {
	tests := []struct {
		text  string
		width int
		want  []string
	}{
		{"a red circle", 200, []string{"a red circle"}},
		{"a red circle", 50, []string{"a red", "circle"}},
		{"abcdefghij", 28, []string{"abcd", "efgh", "ij"}},
		{"q: why ?\na: yes", 200, []string{"q: why ?", "a: yes"}},
		{"", 50, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			assert.Equal(t, tt.want, wrap(tt.text, tt.width))
		})
	}
}

func TestGridSize(t *testing.T) {
	img := func(w, h int) image.Image { return image.NewRGBA(image.Rect(0, 0, w, h)) }
	four := []Panel{{img(64, 64), "a"}, {img(64, 64), "b"}, {img(64, 64), "c"}, {img(64, 64), "d"}}
	labelH := labelGap + lineHeight
	tests := []struct {
		name   string
		panels []Panel
		opt    GridOptions
		w, h   int
	}{
		{"one row at native size", four, GridOptions{}, 2*margin + 4*64 + 3*gapX, 2*margin + 64 + labelH},
		{"two by two scaled", four, GridOptions{Cols: 2, Cell: 128}, 2*margin + 2*128 + gapX, 2*margin + 2*(128+labelH) + gapY},
		{"title adds a line", four, GridOptions{Cols: 4, Title: "t"}, 2*margin + 4*64 + 3*gapX, 2*margin + lineHeight + 8 + 64 + labelH},
		{"no labels, no label space", []Panel{{Image: img(30, 20)}}, GridOptions{}, 2*margin + 30, 2*margin + 20},
		{"labels wrap", []Panel{{img(64, 64), "a long label that wraps"}}, GridOptions{}, 2*margin + 64, 2*margin + 64 + labelGap + 4*lineHeight},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := Grid(tt.panels, tt.opt)
			assert.Equal(t, image.Rect(0, 0, tt.w, tt.h), g.Bounds())
		})
	}
}

func TestGridPlacesImagesAndLabels(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 32, 16))
	for i := 0; i < len(src.Pix); i += 4 {
		copy(src.Pix[i:], []uint8{255, 0, 0, 255})
	}
	g := Grid([]Panel{{src, "wide"}, {nil, "text only"}}, GridOptions{Cell: 64})
	// The 32x16 image fills the 64-wide cell, centred vertically: rows
	// 16..48 of the cell.
	assert.Equal(t, color.RGBA{255, 0, 0, 255}, g.RGBAAt(margin, margin+16))
	assert.Equal(t, color.RGBA{255, 0, 0, 255}, g.RGBAAt(margin+63, margin+47))
	assert.Equal(t, white, g.RGBAAt(margin+10, margin+15))
	assert.Equal(t, white, g.RGBAAt(margin+10, margin+48))
	assert.True(t, hasInk(g, image.Rect(margin, margin+64, margin+64, margin+64+labelGap+lineHeight)), "label under the image")
	textCell := image.Rect(margin+64+gapX, margin, margin+2*64+gapX, margin+64)
	assert.True(t, hasInk(g, textCell.Inset(4)), "text-only panel shows its label in the cell")
}

// hasInk reports whether any pixel of r is darker than light grey.
func hasInk(img *image.RGBA, r image.Rectangle) bool {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if luma(img.RGBAAt(x, y)) < 150 {
				return true
			}
		}
	}
	return false
}

func TestGridEmpty(t *testing.T) {
	assert.Equal(t, image.Rect(0, 0, 2*margin+96, 2*margin), Grid(nil, GridOptions{}).Bounds())
}
