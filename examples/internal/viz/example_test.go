package viz_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/examples/internal/scene"
	"github.com/govlm/vlm/examples/internal/viz"
)

func Example() {
	g, err := scene.NewGenerator(scene.Config{})
	if err != nil {
		panic(err)
	}
	s := g.Scene(1)
	img := s.Render()

	// An attention map on a 4x4 grid that looks at the first object.
	att := vlm.Zeros(4, 4)
	o := s.Objects[0]
	att.Data[int(o.Y)/16*4+int(o.X)/16] = 1
	panels := []viz.Panel{{Image: img, Label: "input"}}
	for i, w := range s.Caption().Words {
		p := viz.Panel{Image: img, Label: w}
		if s.Caption().Refs[i] == 0 {
			p.Image = viz.Overlay(img, att, viz.Magma, 0.6)
		}
		panels = append(panels, p)
	}
	grid := viz.Grid(panels, viz.GridOptions{Cols: 4, Cell: 96, Title: s.Caption().Text})

	loss := viz.Series{Name: "train loss"}
	for step := range 100 {
		loss.Y = append(loss.Y, 3*math.Exp(-float64(step)/30)+0.1)
	}
	chart := viz.Chart{Title: "loss", XLabel: "step", Series: []viz.Series{loss}, LogY: true, Width: 480, Height: 300}.Render()

	dir, err := os.MkdirTemp("", "viz")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	if err := viz.WritePNG(filepath.Join(dir, "attention.png"), grid); err != nil {
		panic(err)
	}
	if err := viz.WritePNG(filepath.Join(dir, "loss.png"), chart); err != nil {
		panic(err)
	}
	fmt.Println("grid", grid.Bounds().Size(), "chart", chart.Bounds().Size())
	// Output: grid (448,297) chart (480,300)
}
