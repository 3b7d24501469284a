package scene

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCaptions(t *testing.T) {
	circle := Object{Shape: Circle, Color: Red, X: 16, Y: 20, R: 8}
	square := Object{Shape: Square, Color: Blue, X: 46, Y: 24, R: 8}
	triangle := Object{Shape: Triangle, Color: Orange, Size: Small, X: 44, Y: 52, R: 6}
	tests := []struct {
		name string
		objs []Object
		want []string
		refs []int // of the canonical caption
	}{
		{
			"one object", []Object{circle},
			[]string{"a red circle", "there is a red circle", "a single red circle"},
			[]int{-1, 0, 0},
		},
		{
			"two objects", []Object{circle, square},
			[]string{
				"a red circle left of a blue square",
				"there is a red circle left of a blue square",
				"a blue square right of a red circle",
			},
			[]int{-1, 0, 0, -1, -1, -1, 1, 1},
		},
		{
			"three objects", []Object{square, circle, triangle},
			[]string{
				"a blue square right of a red circle and a small orange triangle below the red circle",
				"there is a blue square right of a red circle and a small orange triangle below the red circle",
				"a red circle left of a blue square and a small orange triangle below the red circle",
			},
			[]int{-1, 0, 0, -1, -1, -1, 1, 1, -1, -1, 2, 2, 2, -1, -1, 1, 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Scene{Width: 64, Height: 64, Objects: tt.objs}
			caps := s.Captions()
			require.Len(t, caps, len(tt.want))
			for i, c := range caps {
				assert.Equal(t, tt.want[i], c.Text)
				assert.Equal(t, Tokenize(c.Text), c.Words)
				assert.Len(t, c.Refs, len(c.Words))
			}
			assert.Equal(t, tt.refs, caps[0].Refs)
			assert.Equal(t, caps[0], s.Caption())
		})
	}
}

func TestArticle(t *testing.T) {
	s := &Scene{Width: 64, Height: 64, Objects: []Object{{Shape: Star, Color: Orange, X: 32, Y: 32, R: 9}}}
	assert.Equal(t, "an orange star", s.Caption().Text)
	assert.Equal(t, "a single orange star", s.Captions()[2].Text)
}

func TestQA(t *testing.T) {
	s := &Scene{
		Width: 64, Height: 64, Seed: 3,
		Objects: []Object{
			{Shape: Circle, Color: Red, X: 16, Y: 20, R: 8},
			{Shape: Circle, Color: Blue, X: 20, Y: 50, R: 8},
			{Shape: Square, Color: Red, X: 48, Y: 40, R: 8},
		},
	}
	qas := s.QA()
	byKind := map[QAKind][]QA{}
	for _, qa := range qas {
		byKind[qa.Kind] = append(byKind[qa.Kind], qa)
	}
	assert.Equal(t, []QA{{AskCount, "how many objects are there ?", "three"}}, byKind[AskCount])
	assert.Equal(t, []QA{{AskColor, "what colour is the square ?", "red"}}, byKind[AskColor], "the circle is ambiguous")
	assert.Equal(t, []QA{{AskShape, "what shape is the blue object ?", "circle"}}, byKind[AskShape], "red is ambiguous")
	assert.Equal(t, []QA{
		{AskRelation, "is the red circle above the blue circle ?", "yes"},
		{AskRelation, "is the red circle below the blue circle ?", "no"},
		{AskRelation, "is the red circle left of the red square ?", "yes"},
		{AskRelation, "is the red circle right of the red square ?", "no"},
		{AskRelation, "is the blue circle left of the red square ?", "yes"},
		{AskRelation, "is the blue circle right of the red square ?", "no"},
	}, byKind[AskRelation])

	exists := byKind[AskExists]
	require.Len(t, exists, 6)
	asked := map[string]bool{}
	for i, qa := range exists {
		assert.False(t, asked[qa.Question], "repeated %q", qa.Question)
		asked[qa.Question] = true
		if i%2 == 0 {
			assert.Equal(t, "yes", qa.Answer)
			continue
		}
		assert.Equal(t, "no", qa.Answer)
		for _, o := range s.Objects {
			assert.NotEqual(t, "is there "+indefinite(Combo{o.Color, o.Shape})+" ?", qa.Question)
		}
	}
	assert.Equal(t, qas, s.QA(), "deterministic")
}

func TestQAKindString(t *testing.T) {
	assert.Equal(t, "count colour shape exists relation",
		AskCount.String()+" "+AskColor.String()+" "+AskShape.String()+" "+AskExists.String()+" "+AskRelation.String())
}

func TestAttributeStrings(t *testing.T) {
	tests := []struct{ got, want string }{
		{Circle.String(), "circle"},
		{Cross.String(), "cross"},
		{Shape(7).String(), "Shape(7)"},
		{Purple.String(), "purple"},
		{Color(-1).String(), "Color(-1)"},
		{Large.String(), "large"},
		{Size(5).String(), "Size(5)"},
		{Object{Shape: Star, Color: Green}.Phrase(), "green star"},
		{Object{Shape: Star, Color: Green, Size: Small}.Phrase(), "small green star"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.got)
	}
}
