package scene

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/govlm/vlm"
)

// Shape is the form of an object.
type Shape int

// The shapes, in the order of [AllShapes].
const (
	Circle Shape = iota
	Square
	Triangle
	Star
	Cross
)

var shapeNames = [...]string{"circle", "square", "triangle", "star", "cross"}

// AllShapes returns every shape.
func AllShapes() []Shape { return []Shape{Circle, Square, Triangle, Star, Cross} }

// String returns the shape's caption word, e.g. "circle".
func (s Shape) String() string {
	if s < 0 || int(s) >= len(shapeNames) {
		return fmt.Sprintf("Shape(%d)", int(s))
	}
	return shapeNames[s]
}

// Color is the fill colour of an object. The six colours stay apart after
// downscaling to a few pixels per object.
type Color int

// The colours, in the order of [AllColors].
const (
	Red Color = iota
	Green
	Blue
	Yellow
	Purple
	Orange
)

var colorNames = [...]string{"red", "green", "blue", "yellow", "purple", "orange"}

var colorRGB = [...]color.RGBA{
	{R: 225, G: 45, B: 45, A: 255},
	{R: 45, G: 185, B: 70, A: 255},
	{R: 55, G: 100, B: 235, A: 255},
	{R: 240, G: 210, B: 40, A: 255},
	{R: 160, G: 70, B: 210, A: 255},
	{R: 250, G: 140, B: 30, A: 255},
}

// AllColors returns every colour.
func AllColors() []Color { return []Color{Red, Green, Blue, Yellow, Purple, Orange} }

// String returns the colour's caption word, e.g. "red".
func (c Color) String() string {
	if c < 0 || int(c) >= len(colorNames) {
		return fmt.Sprintf("Color(%d)", int(c))
	}
	return colorNames[c]
}

// RGB returns the opaque colour the renderer fills the object with.
func (c Color) RGB() color.RGBA { return colorRGB[c] }

// Size is the size class of an object.
type Size int

// The size classes. Medium, the zero value, is what a [Generator] uses
// unless [Config.VarySize] is set; it has no caption word.
const (
	Medium Size = iota
	Small
	Large
)

var sizeNames = [...]string{"medium", "small", "large"}

// sizeFrac is an object's half-extent R as a fraction of the canvas's
// shorter side.
var sizeFrac = [...]float64{0.14, 0.10, 0.17}

// String returns "medium", "small" or "large".
func (s Size) String() string {
	if s < 0 || int(s) >= len(sizeNames) {
		return fmt.Sprintf("Size(%d)", int(s))
	}
	return sizeNames[s]
}

// Background is the canvas colour behind the objects.
type Background int

// The backgrounds.
const (
	Dark Background = iota
	Light
)

var backgroundRGB = [...]color.RGBA{
	{R: 22, G: 22, B: 30, A: 255},
	{R: 205, G: 205, B: 200, A: 255},
}

// Combo is a colour-shape combination, e.g. the red triangle.
type Combo struct {
	Color Color
	Shape Shape
}

// Object is one shape on the canvas.
type Object struct {
	Shape Shape
	Color Color
	Size  Size
	// X and Y locate the centre in pixels from the canvas's top-left
	// corner; Y grows downwards.
	X, Y float64
	// R is half the side of the square the shape is drawn in.
	R float64
}

// Phrase returns the object's noun phrase without an article, e.g.
// "red circle" or "small red circle".
func (o Object) Phrase() string {
	if o.Size == Medium {
		return o.Color.String() + " " + o.Shape.String()
	}
	return o.Size.String() + " " + o.Color.String() + " " + o.Shape.String()
}

// Box returns the smallest pixel rectangle that holds the drawn shape.
func (o Object) Box() image.Rectangle {
	pts := o.outline()
	x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, p := range pts {
		x0, y0 = math.Min(x0, p[0]), math.Min(y0, p[1])
		x1, y1 = math.Max(x1, p[0]), math.Max(y1, p[1])
	}
	return image.Rect(int(math.Floor(x0)), int(math.Floor(y0)), int(math.Ceil(x1)), int(math.Ceil(y1)))
}

// outline returns the polygon the renderer fills, in pixel coordinates.
func (o Object) outline() [][2]float64 {
	var unit [][2]float64 // in [-1, 1]², y down
	switch o.Shape {
	case Circle:
		const n = 48
		for i := range n {
			a := 2 * math.Pi * float64(i) / n
			unit = append(unit, [2]float64{math.Cos(a), math.Sin(a)})
		}
	case Square:
		const h = 0.85
		unit = [][2]float64{{-h, -h}, {h, -h}, {h, h}, {-h, h}}
	case Triangle:
		unit = [][2]float64{{0, -1}, {1, 0.9}, {-1, 0.9}}
	case Star:
		for i := range 10 {
			a := -math.Pi/2 + math.Pi*float64(i)/5
			r := 1.0
			if i%2 == 1 {
				r = 0.45
			}
			unit = append(unit, [2]float64{r * math.Cos(a), r*math.Sin(a) + 0.1})
		}
	case Cross:
		const a, b = 0.3, 0.95
		unit = [][2]float64{
			{-a, -b}, {a, -b}, {a, -a}, {b, -a}, {b, a}, {a, a},
			{a, b}, {-a, b}, {-a, a}, {-b, a}, {-b, -a}, {-a, -a},
		}
	}
	pts := make([][2]float64, len(unit))
	for i, u := range unit {
		pts[i] = [2]float64{o.X + o.R*u[0], o.Y + o.R*u[1]}
	}
	return pts
}

// Scene is a canvas with its objects. The exported fields describe it
// completely except for the attribute sets that [Scene.QA] draws
// negative questions from, which come from the [Generator] that made it
// (all colours and the default shapes for a scene built by hand).
type Scene struct {
	Width, Height int
	Background    Background
	// Noise is the amplitude, as a fraction of full scale, of the grey
	// noise added to the background; the noise pattern follows from Seed.
	Noise   float64
	Seed    uint64
	Objects []Object

	combos []Combo // what negative existence questions may name
}

// relation names where a is relative to b: "left of", "right of", "above"
// or "below", along the axis on which their centres are further apart.
func relation(a, b Object) string {
	dx, dy := a.X-b.X, a.Y-b.Y
	if math.Abs(dx) >= math.Abs(dy) {
		if dx < 0 {
			return "left of"
		}
		return "right of"
	}
	if dy < 0 {
		return "above"
	}
	return "below"
}

// opposite maps each relation to its converse.
var opposite = map[string]string{
	"left of": "right of", "right of": "left of",
	"above": "below", "below": "above",
}

// BoxMass returns the part of an attention map att [gh, gw] laid over the
// canvas that falls inside object i's box: the sum over grid cells of the
// cell's weight times the fraction of the cell's area inside the box. For
// a map that sums to 1 it is in [0, 1]; a uniform map gives the box's
// share of the canvas.
func (s *Scene) BoxMass(i int, att *vlm.Tensor) float64 {
	if att.Rank() != 2 {
		vlm.Panicf(vlm.ErrShape, "scene.BoxMass: attention map has shape %v, want [gh, gw]", att.Shape)
	}
	gh, gw := att.Shape[0], att.Shape[1]
	box := s.Objects[i].Box().Intersect(image.Rect(0, 0, s.Width, s.Height))
	ch, cw := float64(s.Height)/float64(gh), float64(s.Width)/float64(gw)
	mass := 0.0
	for r := range gh {
		oy := overlap(float64(r)*ch, float64(r+1)*ch, float64(box.Min.Y), float64(box.Max.Y)) / ch
		if oy == 0 {
			continue
		}
		for c := range gw {
			ox := overlap(float64(c)*cw, float64(c+1)*cw, float64(box.Min.X), float64(box.Max.X)) / cw
			mass += float64(att.Data[r*gw+c]) * ox * oy
		}
	}
	return mass
}

// overlap returns the length of the intersection of [a0, a1) and [b0, b1).
func overlap(a0, a1, b0, b1 float64) float64 {
	return math.Max(0, math.Min(a1, b1)-math.Max(a0, b0))
}

// ReadingOrder puts the two objects of a two-object scene in reading
// order along the axis on which they lie apart (left to right, or top to
// bottom), so that the canonical caption is a function of the picture:
// "a red circle left of a blue square", never "a blue square right of a
// red circle" for the same drawing (which stays one of its paraphrases).
// Other scenes are left as they are.
func (s *Scene) ReadingOrder() {
	if len(s.Objects) != 2 {
		return
	}
	dx, dy := s.Objects[1].X-s.Objects[0].X, s.Objects[1].Y-s.Objects[0].Y
	if (math.Abs(dx) >= math.Abs(dy) && dx < 0) || (math.Abs(dy) > math.Abs(dx) && dy < 0) {
		s.Objects[0], s.Objects[1] = s.Objects[1], s.Objects[0]
	}
}
