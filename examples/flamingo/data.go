package main

import (
	"math"
	"math/rand/v2"
	"strings"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/examples/internal/scene"
)

// The special tokens of OpenFlamingo's tokenizer.
const (
	imageToken = "<image>"
	chunkToken = "<|endofchunk|>"
)

// style is how the texts of an episode describe their scenes. An episode
// keeps one style, so only its earlier image-text pairs tell which: the
// style is the task that the shots of a few-shot prompt specify.
type style int

const (
	styleCaption style = iota // "a red circle left of a blue square"
	styleColours              // "red blue"
	styleShapes               // "circle square"
	numStyles
)

func (s style) String() string {
	return [...]string{"caption", "colours", "shapes"}[s]
}

// item is a scene whose objects are in reading order: left to right when
// they lie side by side, top to bottom when one is above the other (the
// axis on which they are further apart, on which the scene generator
// keeps them clearly apart).
type item struct {
	scene *scene.Scene
}

func newItem(s *scene.Scene) item {
	c := *s
	c.Objects = append([]scene.Object(nil), s.Objects...)
	it := item{scene: &c}
	if len(c.Objects) == 2 {
		a, b := c.Objects[0], c.Objects[1]
		if (it.vertical() && b.Y < a.Y) || (!it.vertical() && b.X < a.X) {
			c.Objects[0], c.Objects[1] = b, a
		}
	}
	return it
}

// vertical reports whether the item's two objects are further apart
// vertically than horizontally (one above the other).
func (it item) vertical() bool {
	o := it.scene.Objects
	return len(o) == 2 && math.Abs(o[0].X-o[1].X) < math.Abs(o[0].Y-o[1].Y)
}

// text describes the item in style s; with the objects in reading order
// the caption's relation is "left of" or "above".
func (it item) text(s style) string {
	switch s {
	case styleColours, styleShapes:
		words := make([]string, len(it.scene.Objects))
		for i, o := range it.scene.Objects {
			if s == styleColours {
				words[i] = o.Color.String()
			} else {
				words[i] = o.Shape.String()
			}
		}
		return strings.Join(words, " ")
	}
	return it.scene.Caption().Text
}

// dataset holds the scenes of one split, their texts' vocabulary and,
// once the vision encoder is trained, their visual features.
type dataset struct {
	items []item
	feats *vlm.Tensor // [len(items), N, D], frozen vision features
}

// corpus is the training and held-out data with one vocabulary.
type corpus struct {
	train, test *dataset
	vocab       *scene.Vocab
	image       int // id of <image>
	chunk       int // id of <|endofchunk|>
}

func newCorpus(nTrain, nTest int, seed uint64) (*corpus, error) {
	g, err := scene.NewGenerator(scene.Config{Width: 32, Height: 32, MinObjects: 1, MaxObjects: 2})
	if err != nil {
		return nil, err
	}
	train, test := g.Split(nTrain, nTest, seed)
	c := &corpus{train: &dataset{}, test: &dataset{}}
	var texts []string
	for _, split := range []struct {
		d      *dataset
		scenes []*scene.Scene
	}{{c.train, train}, {c.test, test}} {
		for _, s := range split.scenes {
			it := newItem(s)
			split.d.items = append(split.d.items, it)
			for st := range numStyles {
				texts = append(texts, it.text(st))
			}
		}
	}
	c.vocab = scene.NewVocab(texts, 1, imageToken, chunkToken)
	c.image, c.chunk = c.vocab.ID(imageToken), c.vocab.ID(chunkToken)
	return c, nil
}

// episode is a sequence of image-text pairs of one style.
type episode struct {
	items []int // indices into a dataset
	style style
}

// randomEpisode draws k distinct items of d and a style.
func randomEpisode(rng *rand.Rand, d *dataset, k int) episode {
	idx := rng.Perm(len(d.items))[:k]
	return episode{items: idx, style: style(rng.IntN(int(numStyles)))}
}

// ids returns the tokens of the episode, OpenFlamingo's interleaved
// format: <bos> <image> text <|endofchunk|> <image> text <|endofchunk|> ...
// With open set, the last pair is cut after its <image>: a prompt.
func (c *corpus) ids(d *dataset, e episode, open bool) []int {
	out := []int{scene.BOSID}
	for i, it := range e.items {
		out = append(out, c.image)
		if open && i == len(e.items)-1 {
			break
		}
		out = append(out, c.vocab.Encode(d.items[it].text(e.style))...)
		out = append(out, c.chunk)
	}
	return out
}

// targets returns the next-token labels of ids: the following token, or
// vlm.IgnoreIndex where it is <image> (open_flamingo's train_utils masks
// the media token) and after the last token.
func (c *corpus) targets(ids []int) []int {
	out := make([]int, len(ids))
	for i := range ids {
		out[i] = vlm.IgnoreIndex
		if i+1 < len(ids) && ids[i+1] != c.image {
			out[i] = ids[i+1]
		}
	}
	return out
}

// batch lays episodes out as right-padded ids [B, T] and targets, and
// gathers their visual features [B, M, N, D] (nil without features).
func (c *corpus) batch(d *dataset, eps []episode) (ids [][]int, targets []int, feats *vlm.Tensor) {
	t := 0
	for _, e := range eps {
		ids = append(ids, c.ids(d, e, false))
		t = max(t, len(ids[len(ids)-1]))
	}
	for i, row := range ids {
		tg := c.targets(row)
		for len(row) < t {
			row = append(row, scene.PadID)
			tg = append(tg, vlm.IgnoreIndex)
		}
		ids[i] = row
		targets = append(targets, tg...)
	}
	if d.feats != nil {
		feats = gather(d.feats, eps)
	}
	return ids, targets, feats
}

// gather returns the features of the episodes' items, [B, M, N, D].
func gather(all *vlm.Tensor, eps []episode) *vlm.Tensor {
	n, dim := all.Shape[1], all.Shape[2]
	m := len(eps[0].items)
	out := vlm.Zeros(len(eps), m, n, dim)
	for b, e := range eps {
		for j, it := range e.items {
			copy(out.Data[(b*m+j)*n*dim:], all.Data[it*n*dim:(it+1)*n*dim])
		}
	}
	return out
}
