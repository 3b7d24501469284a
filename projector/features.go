package projector

import "github.com/govlm/vlm"

// Strategy says which tokens of a vision encoder's hidden state become
// image features (LLaVA's mm_vision_select_feature).
type Strategy string

// The strategies. HF llava's vision_feature_select_strategy calls them
// "default" and "full"; both spellings are accepted.
const (
	// Patch drops the CLS token (index 0): [B, 1+N, D] → [B, N, D].
	Patch Strategy = "patch"
	// CLSPatch keeps every token.
	CLSPatch Strategy = "cls_patch"
)

// SelectFeatures returns the image features LLaVA takes from a vision
// encoder's hidden states (HF output_hidden_states: the embeddings, then
// each layer's output, each [B, 1+N, D]): hidden[layer], a negative layer
// counting from the end (LLaVA-1.5 uses −2, the penultimate layer, which
// never goes through the final LayerNorm), without the CLS token for
// [Patch]. On a tape the gradient flows back into that hidden state.
func SelectFeatures(tp *vlm.Tape, hidden []*vlm.Tensor, layer int, s Strategy) (f *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	i := layer
	if i < 0 {
		i += len(hidden)
	}
	if i < 0 || i >= len(hidden) {
		return nil, vlm.Errorf(vlm.ErrInput, "projector: layer %d of %d hidden states", layer, len(hidden))
	}
	h := hidden[i]
	if err := vlm.CheckShape("projector hidden state", h, -1, -1, -1); err != nil {
		return nil, err
	}
	switch s {
	case Patch, "default":
		if h.Shape[1] < 2 {
			return nil, vlm.Errorf(vlm.ErrShape, "projector: hidden state %v has no patch tokens after the CLS token", h.Shape)
		}
		return vlm.Slice(tp, h, 1, 1, h.Shape[1]), nil
	case CLSPatch, "full":
		return h, nil
	}
	return nil, vlm.Errorf(vlm.ErrConfig, "projector: unknown feature strategy %q (want %q or %q)", string(s), Patch, CLSPatch)
}
