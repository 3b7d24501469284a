package scene

import (
	"errors"
	"image"
	"math"
	"testing"

	"github.com/govlm/vlm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewGeneratorRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"tiny canvas", Config{Width: 16}},
		{"huge canvas", Config{Height: 2000}},
		{"four objects", Config{MaxObjects: 4}},
		{"min above max", Config{MinObjects: 3, MaxObjects: 2}},
		{"negative noise", Config{Noise: -0.1}},
		{"loud noise", Config{Noise: 0.6}},
		{"empty shapes", Config{Shapes: []Shape{}}},
		{"unknown shape", Config{Shapes: []Shape{Shape(9)}}},
		{"unknown colour", Config{Colors: []Color{Color(-1)}}},
		{"unknown background", Config{Backgrounds: []Background{Background(2)}}},
		{"held out unknown", Config{Shapes: []Shape{Circle}, HoldOut: []Combo{{Red, Square}}}},
		{"too few combinations", Config{Shapes: []Shape{Circle}, Colors: []Color{Red, Blue, Green}, HoldOut: []Combo{{Red, Circle}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewGenerator(tt.cfg)
			require.Error(t, err)
			assert.True(t, errors.Is(err, vlm.ErrConfig), err.Error())
		})
	}
}

func mustGenerator(t *testing.T, cfg Config) *Generator {
	t.Helper()
	g, err := NewGenerator(cfg)
	require.NoError(t, err)
	return g
}

func TestSceneInvariants(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"default", Config{}},
		{"sizes and all shapes", Config{VarySize: true, Shapes: AllShapes(), Backgrounds: []Background{Dark, Light}, Noise: 0.1}},
		{"three small colours on 32", Config{Width: 32, Height: 32, MinObjects: 3, Colors: []Color{Red, Green, Blue}}},
		{"wide 224 large", Config{Width: 224, Height: 112, MinObjects: 3, VarySize: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustGenerator(t, tt.cfg)
			cfg := g.cfg
			counts := map[int]int{}
			for seed := range uint64(300) {
				s := g.Scene(seed)
				n := len(s.Objects)
				counts[n]++
				require.GreaterOrEqual(t, n, cfg.MinObjects)
				require.LessOrEqual(t, n, cfg.MaxObjects)
				canvas := image.Rect(0, 0, s.Width, s.Height)
				seen := map[Combo]bool{}
				for i, o := range s.Objects {
					assert.True(t, o.Box().In(canvas), "seed %d object %d box %v", seed, i, o.Box())
					c := Combo{o.Color, o.Shape}
					assert.False(t, seen[c], "seed %d repeats %v", seed, c)
					seen[c] = true
					assert.Equal(t, cfg.VarySize, o.Size != Medium)
					for _, p := range s.Objects[:i] {
						assert.True(t, o.Box().Intersect(p.Box()).Empty(), "seed %d: boxes overlap", seed)
						dx, dy := math.Abs(o.X-p.X), math.Abs(o.Y-p.Y)
						assert.GreaterOrEqual(t, math.Max(dx, dy), 1.5*math.Min(dx, dy), "seed %d: no dominant axis", seed)
					}
				}
			}
			for n := cfg.MinObjects; n <= cfg.MaxObjects; n++ {
				assert.Positive(t, counts[n], "no scene with %d objects", n)
			}
		})
	}
}

func TestSceneDeterministic(t *testing.T) {
	g := mustGenerator(t, Config{Noise: 0.1, VarySize: true})
	a, b := g.Scene(42), g.Scene(42)
	assert.Equal(t, a, b)
	assert.Equal(t, a.Render().Pix, b.Render().Pix)
	assert.Equal(t, a.QA(), b.QA())
	assert.NotEqual(t, a.Objects, g.Scene(43).Objects)
}

func TestSplit(t *testing.T) {
	held := []Combo{{Red, Triangle}, {Blue, Circle}}
	g := mustGenerator(t, Config{HoldOut: held})
	train, test := g.Split(200, 100, 7)
	require.Len(t, train, 200)
	require.Len(t, test, 100)
	seeds := map[uint64]bool{}
	for _, s := range train {
		seeds[s.Seed] = true
		for _, o := range s.Objects {
			assert.NotContains(t, held, Combo{o.Color, o.Shape})
		}
		for _, qa := range s.QA() {
			assert.NotContains(t, qa.Question, "red triangle")
			assert.NotContains(t, qa.Question, "blue circle")
		}
	}
	for _, s := range test {
		assert.False(t, seeds[s.Seed], "seed %d in both sets", s.Seed)
		assert.Contains(t, held, Combo{s.Objects[0].Color, s.Objects[0].Shape})
	}
	assert.Equal(t, g.Scene(7), train[0])

	plain := mustGenerator(t, Config{})
	_, test = plain.Split(0, 3, 7)
	assert.Equal(t, plain.Scene(8), test[0])
}

// twoObjects is a hand-made scene: a red circle left of a blue square.
func twoObjects() *Scene {
	return &Scene{
		Width: 64, Height: 64,
		Objects: []Object{
			{Shape: Circle, Color: Red, X: 16, Y: 30, R: 8},
			{Shape: Square, Color: Blue, X: 46, Y: 34, R: 10},
		},
	}
}

func TestRender(t *testing.T) {
	s := twoObjects()
	img := s.Render()
	require.Equal(t, image.Rect(0, 0, 64, 64), img.Bounds())
	assert.Equal(t, Red.RGB(), img.RGBAAt(16, 30))
	assert.Equal(t, Blue.RGB(), img.RGBAAt(46, 34))
	assert.Equal(t, backgroundRGB[Dark], img.RGBAAt(1, 1))
	assert.Equal(t, backgroundRGB[Dark], img.RGBAAt(31, 30), "between the objects")
	edge := img.RGBAAt(21, 35) // on the circle's rim: antialiased
	assert.Greater(t, edge.R, backgroundRGB[Dark].R)
	assert.Less(t, edge.R, Red.RGB().R)

	s.Noise, s.Seed = 0.1, 5
	noisy := s.Render()
	assert.NotEqual(t, backgroundRGB[Dark], noisy.RGBAAt(1, 1))
	assert.Equal(t, Red.RGB(), noisy.RGBAAt(16, 30), "noise stays behind the objects")
	assert.Equal(t, noisy.Pix, s.Render().Pix)
}

func TestBox(t *testing.T) {
	tests := []struct {
		shape Shape
		want  image.Rectangle
	}{
		{Circle, image.Rect(22, 22, 42, 42)},
		{Square, image.Rect(23, 23, 41, 41)},
		{Triangle, image.Rect(22, 22, 42, 41)},
		{Cross, image.Rect(22, 22, 42, 42)},
	}
	for _, tt := range tests {
		t.Run(tt.shape.String(), func(t *testing.T) {
			assert.Equal(t, tt.want, Object{Shape: tt.shape, X: 32, Y: 32, R: 10}.Box())
		})
	}
}

func TestTensor(t *testing.T) {
	s := twoObjects()
	x := s.Tensor(ImageNet)
	require.Equal(t, []int{3, 64, 64}, x.Shape)
	red := Red.RGB()
	i := 30*64 + 16
	for c, v := range []uint8{red.R, red.G, red.B} {
		want := (float32(v)/255 - ImageNet.Mean[c]) / ImageNet.Std[c]
		assert.InDelta(t, want, x.Data[c*64*64+i], 1e-5)
	}
	u := s.Tensor(Unit)
	assert.InDelta(t, float32(red.R)/255, u.Data[i], 1e-6)

	b := Batch([]*Scene{s, s}, ImageNet)
	require.Equal(t, []int{2, 3, 64, 64}, b.Shape)
	assert.Equal(t, x.Data, b.Data[:x.Size()])
	assert.Equal(t, x.Data, b.Data[x.Size():])

	// ImageTensor reads any image type the same way.
	sub := ImageTensor(image.NewNRGBA(image.Rect(0, 0, 2, 1)), Unit)
	assert.Equal(t, []int{3, 1, 2}, sub.Shape)
	assert.Equal(t, make([]float32, 6), sub.Data)
}

func TestBatchRejectsMixedSizes(t *testing.T) {
	other := twoObjects()
	other.Width = 32
	assert.Panics(t, func() { Batch([]*Scene{twoObjects(), other}, Unit) })
}

func TestBoxMass(t *testing.T) {
	s := twoObjects() // circle box (8,22)-(24,38); square box (37,25)-(55,43)
	oneHot := func(gh, gw, r, c int) *vlm.Tensor {
		a := vlm.Zeros(gh, gw)
		a.Data[r*gw+c] = 1
		return a
	}
	uniform := vlm.Full(1.0/16, 4, 4)
	tests := []struct {
		name string
		obj  int
		att  *vlm.Tensor
		want float64
	}{
		{"cell inside the circle's box", 0, oneHot(8, 8, 3, 1), 1},
		{"cell far away", 0, oneHot(8, 8, 7, 7), 0},
		{"cell three quarters inside", 0, oneHot(8, 8, 4, 1), 0.75},
		{"cell a quarter inside", 0, oneHot(8, 8, 2, 1), 0.25},
		{"uniform map gives the box's area share", 1, uniform, 18.0 * 18 / (64 * 64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.InDelta(t, tt.want, s.BoxMass(tt.obj, tt.att), 1e-6)
		})
	}
}

func TestReadingOrder(t *testing.T) {
	for _, c := range []struct {
		name       string
		a, b       Object
		relation   string
		canonicalA Color
	}{
		{"already left to right", Object{X: 10, Y: 30, Color: Red}, Object{X: 50, Y: 35, Color: Blue}, "left of", Red},
		{"right to left", Object{X: 50, Y: 30, Color: Red}, Object{X: 10, Y: 35, Color: Blue}, "left of", Blue},
		{"bottom to top", Object{X: 30, Y: 50, Color: Red}, Object{X: 35, Y: 10, Color: Blue}, "above", Blue},
		{"top to bottom", Object{X: 30, Y: 10, Color: Red}, Object{X: 35, Y: 50, Color: Blue}, "above", Red},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.a.R, c.b.R = 5, 5
			s := &Scene{Width: 64, Height: 64, Objects: []Object{c.a, c.b}}
			s.ReadingOrder()
			assert.Equal(t, c.canonicalA, s.Objects[0].Color)
			assert.Contains(t, s.Caption().Text, c.relation)
		})
	}
}
