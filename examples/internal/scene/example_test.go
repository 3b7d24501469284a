package scene_test

import (
	"fmt"

	"github.com/govlm/vlm/examples/internal/scene"
)

func Example() {
	g, err := scene.NewGenerator(scene.Config{})
	if err != nil {
		panic(err)
	}
	s := g.Scene(1)
	img := s.Render()
	x := s.Tensor(scene.ImageNet)
	fmt.Println(img.Bounds().Size(), x.Shape)
	for _, c := range s.Captions() {
		fmt.Println(c.Text)
	}
	for i, o := range s.Objects {
		fmt.Println(i, o.Phrase(), o.Box())
	}
	for _, qa := range s.QA() {
		fmt.Printf("%-8v %s %s\n", qa.Kind, qa.Question, qa.Answer)
	}
	v := scene.NewVocab([]string{s.Caption().Text}, 1, "<image>")
	ids := scene.Wrap(v.Encode("<image> " + s.Caption().Text))
	fmt.Println(ids, v.Decode(ids))
	// Output:
	// (64,64) [3 64 64]
	// a yellow circle below a green square
	// there is a yellow circle below a green square
	// a green square above a yellow circle
	// 0 yellow circle (13,32)-(32,51)
	// 1 green square (13,6)-(30,22)
	// count    how many objects are there ? two
	// colour   what colour is the circle ? yellow
	// colour   what colour is the square ? green
	// shape    what shape is the yellow object ? circle
	// shape    what shape is the green object ? square
	// exists   is there a yellow circle ? yes
	// exists   is there a red circle ? no
	// exists   is there a green square ? yes
	// exists   is there a yellow square ? no
	// relation is the yellow circle below the green square ? yes
	// relation is the yellow circle above the green square ? no
	// [1 4 5 10 7 6 5 8 9 2] <image> a yellow circle below a green square
}
