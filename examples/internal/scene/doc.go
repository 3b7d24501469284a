// Package scene makes the synthetic image-text data the examples train
// on: small pictures of coloured shapes together with captions, visual
// questions and answers, the objects' pixel boxes, and a word-level
// vocabulary for those texts.
//
// A [Generator] draws a [Scene] from a seed: a canvas (64x64 unless
// configured) with one to three non-overlapping objects, each a [Shape]
// in a [Color] (and, optionally, a [Size]), on a plain dark or light
// background with optional mild noise. The same seed always gives the same
// scene, picture and texts. [Generator.Split] draws training and held-out
// sets from disjoint seeds and can keep chosen colour-shape combinations
// out of training to test compositional generalisation.
//
// A scene renders to an [image.RGBA] with antialiased shapes
// ([Scene.Render]) or to a normalised [vlm.Tensor] [3, H, W]
// ([Scene.Tensor], [Batch] for [B, 3, H, W]).
//
// Texts come from a small grammar. [Scene.Captions] gives several
// paraphrases, the first canonical:
//
//	a red circle
//	a red circle left of a blue square
//	a small green triangle above a large yellow circle and a small orange square right of the large yellow circle
//
// Relations compare the objects' centres along the axis on which they are
// further apart; generation keeps every pair clearly apart on one axis, so
// each relation is unambiguous. Each caption records which object each
// word names, and [Scene.BoxMass] measures how much of an attention map
// falls inside an object's box. [Scene.QA] asks about count, colour,
// shape, existence and relations, only where the answer is unambiguous.
//
// Texts are lower case with punctuation as separate words ("what shape is
// the blue object ?"), so [Tokenize] is a whitespace split and
// [Vocab.Decode] of [Vocab.Encode] gives the text back. The [Vocab] fixes
// <pad>=0, <bos>=1, <eos>=2 and <unk>=3 and appends extra special tokens
// such as "<image>" after them.
//
// Corpus BLEU lives in the lstmcaption package; this package does not
// duplicate it.
package scene
