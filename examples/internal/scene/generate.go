package scene

import (
	"math"
	"math/rand/v2"

	"github.com/govlm/vlm"
)

// Config describes the scenes a [Generator] draws. The zero value gives
// 64x64 dark scenes with one to three medium circles, squares and
// triangles in all six colours.
type Config struct {
	// Width and Height are the canvas size in pixels, 32 to 1024;
	// 0 means 64.
	Width, Height int
	// MinObjects and MaxObjects bound the number of objects, 1 to 3;
	// 0 means 1 and 3.
	MinObjects, MaxObjects int
	// Shapes and Colors are the attributes objects take; nil means
	// circle, square and triangle, and all colours.
	Shapes []Shape
	Colors []Color
	// VarySize draws each object small or large and names the size in
	// the texts; otherwise every object is medium and no size is named.
	VarySize bool
	// Backgrounds are the backgrounds scenes take; nil means dark only.
	Backgrounds []Background
	// Noise is the amplitude of the background's grey noise as a
	// fraction of full scale, 0 to 0.5; 0 means a plain background.
	Noise float64
	// HoldOut lists colour-shape combinations that scenes from
	// [Generator.Scene] and the training side of [Generator.Split] never
	// contain and that every held-out scene of a split contains.
	HoldOut []Combo
}

// Generator draws scenes from a validated [Config]. It is read-only after
// construction, so one generator may serve any number of goroutines.
type Generator struct {
	cfg     Config
	allowed []Combo // combinations training scenes may contain
}

// NewGenerator validates cfg, fills in its defaults and returns a
// generator. Errors wrap [vlm.ErrConfig].
func NewGenerator(cfg Config) (*Generator, error) {
	if cfg.Width == 0 {
		cfg.Width = 64
	}
	if cfg.Height == 0 {
		cfg.Height = 64
	}
	if cfg.MinObjects == 0 {
		cfg.MinObjects = 1
	}
	if cfg.MaxObjects == 0 {
		cfg.MaxObjects = 3
	}
	if cfg.Shapes == nil {
		cfg.Shapes = []Shape{Circle, Square, Triangle}
	}
	if cfg.Colors == nil {
		cfg.Colors = AllColors()
	}
	if cfg.Backgrounds == nil {
		cfg.Backgrounds = []Background{Dark}
	}
	switch {
	case cfg.Width < 32 || cfg.Width > 1024 || cfg.Height < 32 || cfg.Height > 1024:
		return nil, vlm.Errorf(vlm.ErrConfig, "scene: canvas %dx%d, want sides in [32, 1024]", cfg.Width, cfg.Height)
	case cfg.MinObjects < 1 || cfg.MaxObjects > 3 || cfg.MinObjects > cfg.MaxObjects:
		return nil, vlm.Errorf(vlm.ErrConfig, "scene: %d to %d objects, want 1 <= min <= max <= 3", cfg.MinObjects, cfg.MaxObjects)
	case cfg.Noise < 0 || cfg.Noise > 0.5:
		return nil, vlm.Errorf(vlm.ErrConfig, "scene: noise %v, want [0, 0.5]", cfg.Noise)
	case len(cfg.Shapes) == 0 || len(cfg.Colors) == 0 || len(cfg.Backgrounds) == 0:
		return nil, vlm.Errorf(vlm.ErrConfig, "scene: empty attribute list")
	}
	for _, s := range cfg.Shapes {
		if s < Circle || s > Cross {
			return nil, vlm.Errorf(vlm.ErrConfig, "scene: unknown shape %d", int(s))
		}
	}
	for _, c := range cfg.Colors {
		if c < Red || c > Orange {
			return nil, vlm.Errorf(vlm.ErrConfig, "scene: unknown colour %d", int(c))
		}
	}
	for _, b := range cfg.Backgrounds {
		if b != Dark && b != Light {
			return nil, vlm.Errorf(vlm.ErrConfig, "scene: unknown background %d", int(b))
		}
	}
	held := map[Combo]bool{}
	for _, h := range cfg.HoldOut {
		if !contains(cfg.Colors, h.Color) || !contains(cfg.Shapes, h.Shape) {
			return nil, vlm.Errorf(vlm.ErrConfig, "scene: held-out %v %v is not among the configured colours and shapes", h.Color, h.Shape)
		}
		held[h] = true
	}
	g := &Generator{cfg: cfg}
	for _, s := range cfg.Shapes {
		for _, c := range cfg.Colors {
			if k := (Combo{c, s}); !held[k] {
				g.allowed = append(g.allowed, k)
			}
		}
	}
	if len(g.allowed) < cfg.MaxObjects {
		return nil, vlm.Errorf(vlm.ErrConfig, "scene: %d colour-shape combinations outside the held-out ones, want at least %d (one per object)", len(g.allowed), cfg.MaxObjects)
	}
	return g, nil
}

func contains[T comparable](xs []T, x T) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Scene returns the scene for seed. Its objects have distinct
// colour-shape combinations, none of them held out.
func (g *Generator) Scene(seed uint64) *Scene { return g.scene(seed, false) }

// Split returns nTrain training scenes and nTest held-out scenes. The
// training scene i has seed seed+2i and the held-out scene j seed+2j+1,
// so the two sets never share a seed. Without [Config.HoldOut] both sets
// follow the same distribution; with it, training scenes never contain a
// held-out combination and every held-out scene contains at least one.
func (g *Generator) Split(nTrain, nTest int, seed uint64) (train, test []*Scene) {
	train = make([]*Scene, nTrain)
	for i := range train {
		train[i] = g.scene(seed+2*uint64(i), false)
	}
	test = make([]*Scene, nTest)
	for j := range test {
		test[j] = g.scene(seed+2*uint64(j)+1, len(g.cfg.HoldOut) > 0)
	}
	return train, test
}

// rngStream separates the generator's random stream from other users of
// the same seed.
const rngStream = 0x5ce9e5ce9e

// scene draws the scene for seed; heldOut makes its first object a
// held-out combination.
func (g *Generator) scene(seed uint64, heldOut bool) *Scene {
	cfg := &g.cfg
	rng := rand.New(rand.NewPCG(seed, rngStream))
	s := &Scene{
		Width:      cfg.Width,
		Height:     cfg.Height,
		Background: cfg.Backgrounds[rng.IntN(len(cfg.Backgrounds))],
		Noise:      cfg.Noise,
		Seed:       seed,
		combos:     g.allowed,
	}
	n := cfg.MinObjects + rng.IntN(cfg.MaxObjects-cfg.MinObjects+1)
	pool := append([]Combo(nil), g.allowed...)
	minSide := float64(min(cfg.Width, cfg.Height))
	for k := range n {
		var c Combo
		if k == 0 && heldOut {
			c = cfg.HoldOut[rng.IntN(len(cfg.HoldOut))]
		} else {
			i := rng.IntN(len(pool))
			c = pool[i]
			pool = append(pool[:i], pool[i+1:]...)
		}
		size := Medium
		if cfg.VarySize {
			size = Small + Size(rng.IntN(2))
		}
		s.Objects = append(s.Objects, Object{Shape: c.Shape, Color: c.Color, Size: size, R: sizeFrac[size] * minSide})
	}
	place(rng, s, 0.04*minSide)
	return s
}

// place positions the scene's objects so that their boxes, grown by gap,
// stay inside the canvas and apart, and every pair of centres is clearly
// further apart on one axis than on the other.
func place(rng *rand.Rand, s *Scene, gap float64) {
	const triesPerObject = 100
	for restart := 0; ; restart++ {
		if restart == 1000 {
			// Unreachable for a validated Config: even three large objects
			// leave room for many placements.
			vlm.Panicf(vlm.ErrConfig, "scene: cannot place %d objects on %dx%d", len(s.Objects), s.Width, s.Height)
		}
		ok := true
		for k := range s.Objects {
			if !placeOne(rng, s, k, gap, triesPerObject) {
				ok = false
				break
			}
		}
		if ok {
			return
		}
	}
}

// placeOne tries random positions for object k against objects 0..k-1.
func placeOne(rng *rand.Rand, s *Scene, k int, gap float64, tries int) bool {
	o := &s.Objects[k]
	margin := o.R + gap
	for range tries {
		o.X = margin + rng.Float64()*(float64(s.Width)-2*margin)
		o.Y = margin + rng.Float64()*(float64(s.Height)-2*margin)
		if fits(s.Objects[:k], *o, gap) {
			return true
		}
	}
	return false
}

// fits reports whether o keeps its distance from every placed object.
func fits(placed []Object, o Object, gap float64) bool {
	for _, p := range placed {
		dx, dy := math.Abs(o.X-p.X), math.Abs(o.Y-p.Y)
		reach := o.R + p.R + gap
		if dx < reach && dy < reach {
			return false // boxes overlap
		}
		if math.Max(dx, dy) < 1.5*math.Min(dx, dy) {
			return false // no clear dominant axis
		}
	}
	return true
}
