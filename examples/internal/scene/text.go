package scene

import (
	"math/rand/v2"
	"strings"
)

// Caption is one description of a scene.
type Caption struct {
	// Text is the caption, lower case, words separated by single spaces.
	Text string
	// Words is Text split into words, as [Tokenize] splits it.
	Words []string
	// Refs gives, for each word, the index in Scene.Objects of the object
	// the word names, or -1. The size, colour and shape words of an
	// object's phrase refer to it; articles, relations and connectives
	// refer to none.
	Refs []int
}

// captionBuilder appends words and their object references.
type captionBuilder struct{ c Caption }

func (b *captionBuilder) words(text string) {
	for _, w := range strings.Fields(text) {
		b.c.Words = append(b.c.Words, w)
		b.c.Refs = append(b.c.Refs, -1)
	}
}

// article returns "an" before a word that starts with a vowel and "a"
// otherwise.
func article(next string) string {
	if strings.ContainsRune("aeiou", rune(next[0])) {
		return "an"
	}
	return "a"
}

// object appends an article and the phrase of objs[i]; the article "a"
// becomes "an" before a vowel.
func (b *captionBuilder) object(objs []Object, i int, art string) {
	phrase := objs[i].Phrase()
	if art == "a" {
		art = article(phrase)
	}
	b.words(art)
	for _, w := range strings.Fields(phrase) {
		b.c.Words = append(b.c.Words, w)
		b.c.Refs = append(b.c.Refs, i)
	}
}

func (b *captionBuilder) done() Caption {
	b.c.Text = strings.Join(b.c.Words, " ")
	return b.c
}

// Captions returns three paraphrases of the scene; the first is the
// canonical caption. With objects A, B and C in the order of
// Scene.Objects, the canonical captions are
//
//	a A
//	a A <relation of A to B> a B
//	a A <relation of A to B> a B and a C <relation of C to B> the B
//
// The second caption prefixes "there is" to the canonical one; the third
// states the first relation from B's side ("a B right of a A ...") or, for
// one object, says "a single A".
func (s *Scene) Captions() []Caption {
	objs := s.Objects
	canon := func(b *captionBuilder, swap bool) {
		if len(objs) == 1 {
			b.object(objs, 0, "a")
			return
		}
		first, second := 0, 1
		if swap {
			first, second = 1, 0
		}
		b.object(objs, first, "a")
		b.words(relation(objs[first], objs[second]))
		b.object(objs, second, "a")
		if len(objs) == 3 {
			b.words("and")
			b.object(objs, 2, "a")
			b.words(relation(objs[2], objs[1]))
			b.object(objs, 1, "the")
		}
	}
	var c0, c1, c2 captionBuilder
	canon(&c0, false)
	c1.words("there is")
	canon(&c1, false)
	if len(objs) == 1 {
		c2.object(objs, 0, "a single")
	} else {
		canon(&c2, true)
	}
	return []Caption{c0.done(), c1.done(), c2.done()}
}

// Caption returns the canonical caption, the first of [Scene.Captions].
func (s *Scene) Caption() Caption { return s.Captions()[0] }

// QAKind is the type of a visual question.
type QAKind int

// The question types.
const (
	// AskCount: "how many objects are there ?" → "one", "two" or "three".
	AskCount QAKind = iota
	// AskColor: "what colour is the circle ?" → "red".
	AskColor
	// AskShape: "what shape is the blue object ?" → "square".
	AskShape
	// AskExists: "is there a red square ?" → "yes" or "no".
	AskExists
	// AskRelation: "is the red circle left of the blue square ?" →
	// "yes" or "no".
	AskRelation
)

var qaKindNames = [...]string{"count", "colour", "shape", "exists", "relation"}

// String returns "count", "colour", "shape", "exists" or "relation".
func (k QAKind) String() string { return qaKindNames[k] }

// QA is a question about a scene with its one-word answer.
type QA struct {
	Kind     QAKind
	Question string
	Answer   string
}

var countWords = [...]string{"zero", "one", "two", "three"}

// qaStream separates the random choices of negative existence questions
// from the generator's stream.
const qaStream = 0x9a

// QA returns the scene's questions and answers, in a fixed order: the
// count; the colour of each object whose shape is unique in the scene; the
// shape of each object whose colour is unique; for each object, "is there"
// its colour-shape combination ("yes") and a combination absent from the
// scene ("no"); and for each pair of objects, its true relation ("yes")
// and its opposite ("no"). Objects are named by colour and shape, which are
// unique within a scene. The negative questions are drawn from a stream
// seeded by Scene.Seed and name only combinations the scene's generator
// may put in training scenes.
func (s *Scene) QA() []QA {
	objs := s.Objects
	rng := rand.New(rand.NewPCG(s.Seed, qaStream))
	qas := []QA{{AskCount, "how many objects are there ?", countWords[len(objs)]}}
	shapeCount, colorCount := map[Shape]int{}, map[Color]int{}
	present := map[Combo]bool{}
	for _, o := range objs {
		shapeCount[o.Shape]++
		colorCount[o.Color]++
		present[Combo{o.Color, o.Shape}] = true
	}
	for _, o := range objs {
		if shapeCount[o.Shape] == 1 {
			qas = append(qas, QA{AskColor, "what colour is the " + o.Shape.String() + " ?", o.Color.String()})
		}
	}
	for _, o := range objs {
		if colorCount[o.Color] == 1 {
			qas = append(qas, QA{AskShape, "what shape is the " + o.Color.String() + " object ?", o.Shape.String()})
		}
	}
	combos := s.combos
	if combos == nil {
		for _, sh := range []Shape{Circle, Square, Triangle} {
			for _, c := range AllColors() {
				combos = append(combos, Combo{c, sh})
			}
		}
	}
	var absent []Combo
	for _, c := range combos {
		if !present[c] {
			absent = append(absent, c)
		}
	}
	for _, o := range objs {
		qas = append(qas, QA{AskExists, "is there " + indefinite(Combo{o.Color, o.Shape}) + " ?", "yes"})
		if len(absent) > 0 {
			i := rng.IntN(len(absent))
			c := absent[i]
			absent = append(absent[:i], absent[i+1:]...)
			qas = append(qas, QA{AskExists, "is there " + indefinite(c) + " ?", "no"})
		}
	}
	name := func(o Object) string { return "the " + o.Color.String() + " " + o.Shape.String() }
	for i := range objs {
		for j := i + 1; j < len(objs); j++ {
			a, b := objs[i], objs[j]
			rel := relation(a, b)
			qas = append(qas, QA{AskRelation, "is " + name(a) + " " + rel + " " + name(b) + " ?", "yes"})
			qas = append(qas, QA{AskRelation, "is " + name(a) + " " + opposite[rel] + " " + name(b) + " ?", "no"})
		}
	}
	return qas
}

// indefinite returns "a red circle" or "an orange circle".
func indefinite(c Combo) string {
	return article(c.Color.String()) + " " + c.Color.String() + " " + c.Shape.String()
}
