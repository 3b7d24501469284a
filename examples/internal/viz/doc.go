// Package viz draws the pictures the examples write: attention maps
// laid over images, grids of labelled panels, and line charts. It only
// draws; [WritePNG] saves the result.
//
//   - [Overlay] upsamples an attention map [h, w] to the image's size the
//     way the Show-Attend-Tell tutorial does (skimage's pyramid_expand:
//     bilinear resize, then a Gaussian blur with sigma = upscale/3),
//     stretches it to [0, 1] as matplotlib's imshow does, colours it with
//     a [Colormap] and alpha-blends it over the image.
//   - [Grid] lays out [Panel]s, each an image with a wrapped text label
//     under it, in rows: one panel per generated word with its attention
//     map, or the images and answers of a few-shot prompt.
//   - [Chart] draws named [Series] as lines with axes, tick labels, a
//     legend and an optional logarithmic y axis: losses over training
//     steps, the tanh of gate values per layer.
//
// Text uses the 7x13 bitmap font of golang.org/x/image/font/basicfont
// (ASCII and Latin-1), which needs no font files and stays crisp at its
// one size. Output depends only on the inputs, so pictures are
// reproducible.
// Nothing here keeps state between calls; every function may be called
// from any goroutine.
package viz
