package lm

import (
	"context"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
)

// Cache holds the keys and values of every layer for incremental decoding
// (HF's past_key_values). Make one per decoding stream with
// [Model.NewCache]; it belongs to one goroutine.
type Cache struct {
	layers []attention.Cache
}

// NewCache returns an empty cache for m.
func (m *Model) NewCache() *Cache { return &Cache{layers: make([]attention.Cache, len(m.Layers))} }

// Len returns the number of cached positions P.
func (c *Cache) Len() int {
	if len(c.layers) == 0 {
		return 0
	}
	return c.layers[len(c.layers)-1].Len()
}

// Select keeps the cached batch entries idx, in that order (entries may
// repeat), as beam search reorders its beams.
func (c *Cache) Select(idx []int) error {
	for i := range c.layers {
		if err := c.layers[i].Select(idx); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cache) fits(m *Model, layer int) error {
	if len(c.layers) != len(m.Layers) {
		return vlm.Errorf(vlm.ErrInput, "lm: cache of %d layers for a model of %d", len(c.layers), len(m.Layers))
	}
	// A pass run layer by layer ([Model.Layer]) leaves the layers before
	// the current one ahead of the last; a whole pass needs them equal.
	p := c.Len()
	for i := range c.layers {
		n := c.layers[i].Len()
		if n < p || (n != p && (layer < 0 || i >= layer)) {
			return vlm.Errorf(vlm.ErrInput, "lm: cache layer %d holds %d positions, the last layer %d", i, n, p)
		}
	}
	return nil
}

// GenerateOptions configure [Model.Generate]. The zero value is greedy
// decoding of one token.
type GenerateOptions struct {
	// MaxNewTokens is the most tokens generated per sample (at least 1).
	MaxNewTokens int
	// Temperature 0 decodes greedily (the first most likely token);
	// a positive value samples from softmax(logits/Temperature) after the
	// TopK and TopP filters, in that order, as HF's sampling warpers.
	Temperature float32
	// TopK, if positive, keeps the K most likely tokens.
	TopK int
	// TopP, if in (0, 1), keeps the smallest set of most likely tokens
	// whose probability reaches TopP (nucleus sampling).
	TopP float32
	// Seed seeds the sampler; one stream draws for the samples in batch
	// order at every step.
	Seed uint64
	// Stop lists the tokens that end a sample (eos_token_id). A sample
	// that generates one stops, and the token ends its output.
	Stop []int
	// NoCache recomputes the whole sequence at every step instead of
	// using a KV cache (HF's use_cache=False): slower, same tokens.
	NoCache bool
	// OnStep, if set, is called after every step with the tokens chosen
	// for each sample, -1 for samples that had already stopped; an error
	// ends generation and is returned.
	OnStep func(step int, tokens []int) error
}

// LeftPad returns the input of a batch of prompts of any lengths, padded
// on the left with pad to the longest (the layout generation needs: the
// last position of every row is the sample's last token), with the mask
// that marks the padding.
func LeftPad(prompts [][]int, pad int) *Input {
	t := 0
	for _, p := range prompts {
		t = max(t, len(p))
	}
	in := &Input{IDs: make([][]int, len(prompts)), Mask: make([][]bool, len(prompts))}
	for i, p := range prompts {
		in.IDs[i] = make([]int, t)
		in.Mask[i] = make([]bool, t)
		for j := range t - len(p) {
			in.IDs[i][j] = pad
		}
		copy(in.IDs[i][t-len(p):], p)
		for j := t - len(p); j < t; j++ {
			in.Mask[i][j] = true
		}
	}
	return in
}

// Generate continues the prompts of in (token ids, or input embeddings
// with images spliced in, left-padded) and returns the new tokens of each
// sample, ending with a stop token if one was generated. in.Cache must be
// nil; Generate makes its own. Generation ends when every sample has
// stopped, after o.MaxNewTokens steps, or when ctx is done, in which case
// the tokens so far are returned with ctx's error.
func (m *Model) Generate(ctx context.Context, in *Input, o *GenerateOptions) (out [][]int, err error) {
	defer vlm.Recover(&err)
	if o == nil {
		o = &GenerateOptions{}
	}
	if err := m.checkGenerate(in, o); err != nil {
		return nil, err
	}
	b, t, _ := in.shape()
	mask := make([][]bool, b)
	for i := range mask {
		mask[i] = make([]bool, t, t+o.MaxNewTokens)
		for j := range mask[i] {
			mask[i][j] = in.Mask == nil || in.Mask[i][j]
		}
	}
	pos := make([][]int, b)
	for i, row := range m.positions(in) {
		pos[i] = append(make([]int, 0, t+o.MaxNewTokens), row...)
	}
	next := make([]int, b)
	for i := range b {
		next[i] = pos[i][t-1] + 1
		if next[i]+max(o.MaxNewTokens, 1)-1 > m.Config.MaxPositions {
			return nil, vlm.Errorf(vlm.ErrInput, "lm: sample %d reaches position %d after %d new tokens, beyond MaxPositions %d", i, next[i]+max(o.MaxNewTokens, 1)-1, max(o.MaxNewTokens, 1), m.Config.MaxPositions)
		}
	}
	g := &generation{m: m, o: o, b: b, mask: mask, next: next}
	if o.Temperature > 0 {
		g.rng = vlm.NewRand(o.Seed)
	}
	first := &Input{IDs: in.IDs, Embeds: in.Embeds, Mask: mask, Positions: pos}
	if o.NoCache {
		if first.Embeds == nil {
			first = &Input{Embeds: m.embedIDs(in.IDs), Mask: mask, Positions: pos}
		}
	} else {
		first.Cache = m.NewCache()
	}
	return g.run(ctx, first)
}

func (m *Model) checkGenerate(in *Input, o *GenerateOptions) error {
	if err := m.check(in); err != nil {
		return err
	}
	if in.Cache != nil {
		return vlm.Errorf(vlm.ErrInput, "lm: Generate makes its own cache; Input.Cache must be nil")
	}
	for i, row := range in.Mask {
		seen := false
		for j, k := range row {
			if seen && !k {
				return vlm.Errorf(vlm.ErrInput, "lm: generation needs left padding, but sample %d has padding at position %d after a token", i, j)
			}
			seen = seen || k
		}
		if !seen {
			return vlm.Errorf(vlm.ErrInput, "lm: sample %d of the prompt is all padding", i)
		}
	}
	switch {
	case o.MaxNewTokens < 0:
		return vlm.Errorf(vlm.ErrConfig, "lm: MaxNewTokens = %d, want >= 1", o.MaxNewTokens)
	case !(o.Temperature >= 0) || math.IsInf(float64(o.Temperature), 0):
		return vlm.Errorf(vlm.ErrConfig, "lm: Temperature = %v, want >= 0", o.Temperature)
	case o.TopK < 0:
		return vlm.Errorf(vlm.ErrConfig, "lm: TopK = %d, want >= 0", o.TopK)
	case !(o.TopP >= 0 && o.TopP <= 1):
		return vlm.Errorf(vlm.ErrConfig, "lm: TopP = %v, want in [0, 1]", o.TopP)
	}
	for _, s := range o.Stop {
		if s < 0 || s >= m.Config.Vocab {
			return vlm.Errorf(vlm.ErrConfig, "lm: stop token %d outside the vocabulary [0, %d)", s, m.Config.Vocab)
		}
	}
	return nil
}

// embedIDs returns the token embeddings of ids [B][T] as [B, T, D].
func (m *Model) embedIDs(ids [][]int) *vlm.Tensor {
	flat := make([]int, 0, len(ids)*len(ids[0]))
	for _, row := range ids {
		flat = append(flat, row...)
	}
	return m.Tokens.Forward(nil, flat).Reshape(len(ids), len(ids[0]), m.Config.Dim)
}

// generation is the state of one Generate call.
type generation struct {
	m    *Model
	o    *GenerateOptions
	b    int
	rng  *rand.Rand
	mask [][]bool // [B][positions so far]
	next []int    // next position id of each sample
}

// run generates from the first step's input: the prompt, with an empty
// cache or, without a cache, as embeddings.
func (g *generation) run(ctx context.Context, step *Input) ([][]int, error) {
	out := make([][]int, g.b)
	done := make([]bool, g.b)
	tokens := make([]int, g.b)
	for s := range max(g.o.MaxNewTokens, 1) {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		last, err := g.lastLogits(step)
		if err != nil {
			return out, err
		}
		v := g.m.Config.Vocab
		for i := range g.b {
			if done[i] {
				tokens[i] = -1
				continue
			}
			tokens[i] = g.pick(last.Data[i*v : (i+1)*v])
			out[i] = append(out[i], tokens[i])
			for _, st := range g.o.Stop {
				done[i] = done[i] || tokens[i] == st
			}
		}
		if g.o.OnStep != nil {
			if err := g.o.OnStep(s, append([]int(nil), tokens...)); err != nil {
				return out, err
			}
		}
		if all(done) {
			break
		}
		step = g.advance(step, tokens)
	}
	return out, nil
}

// lastLogits runs in and returns the logits of its last position,
// [B, 1, V].
func (g *generation) lastLogits(in *Input) (*vlm.Tensor, error) {
	h, err := g.m.hidden(nil, in)
	if err != nil {
		return nil, err
	}
	t := h.Shape[1]
	return g.m.logits(nil, vlm.Slice(nil, h, 1, t-1, t)), nil
}

// advance returns the input of the step after prev, which chose tokens
// (-1 for stopped samples, which continue with the pad id): the new
// tokens over the cache, or without a cache the whole sequence so far.
func (g *generation) advance(prev *Input, tokens []int) *Input {
	ids := make([][]int, g.b)
	pos := make([][]int, g.b)
	for i, tok := range tokens {
		if tok < 0 {
			tok = g.m.Config.PadID
		}
		ids[i] = []int{tok}
		pos[i] = []int{g.next[i]}
		g.next[i]++
		g.mask[i] = append(g.mask[i], true)
	}
	if prev.Cache != nil {
		return &Input{IDs: ids, Mask: g.mask, Positions: pos, Cache: prev.Cache}
	}
	seq := make([][]int, g.b)
	for i := range seq {
		seq[i] = append(prev.Positions[i], pos[i][0])
	}
	return &Input{Embeds: vlm.Concat(nil, 1, prev.Embeds, g.m.embedIDs(ids)), Mask: g.mask, Positions: seq}
}

func all(bs []bool) bool {
	for _, b := range bs {
		if !b {
			return false
		}
	}
	return true
}

// pick chooses the next token from one row of logits [V].
func (g *generation) pick(logits []float32) int {
	if g.rng == nil {
		best := 0
		for j, v := range logits {
			if v > logits[best] {
				best = j
			}
		}
		return best
	}
	return sample(g.rng, logits, g.o.Temperature, g.o.TopK, g.o.TopP)
}

// sample draws a token from softmax(logits/temp) restricted to the topK
// most likely tokens and then to the nucleus of probability topP.
func sample(rng *rand.Rand, logits []float32, temp float32, topK int, topP float32) int {
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	if topK > 0 && topK < len(idx) {
		idx = idx[:topK]
	}
	p := make([]float64, len(idx))
	top := float64(logits[idx[0]]) / float64(temp)
	var sum float64
	for k, i := range idx {
		p[k] = math.Exp(float64(logits[i])/float64(temp) - top)
		sum += p[k]
	}
	if topP > 0 && topP < 1 {
		var c float64
		for k := range p {
			c += p[k] / sum
			if c >= float64(topP) {
				idx, p = idx[:k+1], p[:k+1]
				break
			}
		}
		sum = 0
		for _, v := range p {
			sum += v
		}
	}
	u := rng.Float64() * sum
	for k, v := range p {
		u -= v
		if u < 0 {
			return idx[k]
		}
	}
	return idx[len(idx)-1]
}
