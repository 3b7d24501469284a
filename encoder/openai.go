package encoder

import (
	"fmt"

	"github.com/govlm/vlm"
)

// LoadOpenAIWeights fills m from a checkpoint with OpenAI's and
// open_clip's names for the visual tower, which differ from Hugging
// Face's in naming and in two layouts:
//
//	class_embedding, positional_embedding      ↔ embeddings.class_embedding, embeddings.position_embedding.weight
//	conv1.weight                               ↔ embeddings.patch_embedding.weight
//	ln_pre, ln_post                            ↔ pre_layrnorm, post_layernorm
//	transformer.resblocks.{i}.ln_1, ln_2       ↔ encoder.layers.{i}.layer_norm1, layer_norm2
//	transformer.resblocks.{i}.attn.in_proj_weight [3D, D], in_proj_bias [3D]
//	                                           ↔ self_attn.q_proj, k_proj, v_proj (rows [q; k; v], split)
//	transformer.resblocks.{i}.attn.out_proj    ↔ self_attn.out_proj
//	transformer.resblocks.{i}.mlp.c_fc, c_proj ↔ mlp.fc1, mlp.fc2
//	proj [D, ProjectionDim]                    ↔ visual_projection.weight (transposed)
//
// opts works as in vlm.LoadWeights, on these names; nil means a strict
// load with Prefix "visual." (an OpenAI or open_clip CLIP checkpoint,
// whose text-tower keys the prefix leaves out). Use Prefix
// "vision_encoder." for an OpenFlamingo checkpoint. The report names
// parameters by their OpenAI names. As with vlm.LoadWeights, a failed
// strict load changes nothing.
//
// open_clip ≥ 2.29 builds nn.GELU for "ViT-L-14" even with OpenAI's
// weights; OpenAI's weights need ViTConfig.Act = vlm.ActQuickGELU (the
// presets' default).
func LoadOpenAIWeights(m *ViT, path string, opts *vlm.LoadOptions) (*vlm.LoadReport, error) {
	f, err := vlm.OpenSafetensors(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return LoadOpenAIWeightsFrom(m, f, opts)
}

// LoadOpenAIWeightsFrom is [LoadOpenAIWeights] from an open checkpoint.
func LoadOpenAIWeightsFrom(m *ViT, f *vlm.Safetensors, opts *vlm.LoadOptions) (*vlm.LoadReport, error) {
	if opts == nil {
		opts = &vlm.LoadOptions{Prefix: "visual."}
	}
	v, err := newOpenAIView(m)
	if err != nil {
		return nil, err
	}
	report, err := vlm.LoadWeightsFrom(v, f, opts)
	if err != nil {
		return report, err
	}
	v.commit()
	return report, nil
}

// openAIView presents a ViT's parameters under OpenAI's names. The fused
// attention input projections and the transposed projection are copies,
// filled from the ViT when the view is made and written back by commit,
// so that a partial load leaves unloaded values as they were.
type openAIView struct {
	m    *ViT
	qkv  [][2]*vlm.Param // per layer: in_proj_weight [3D, D], in_proj_bias [3D]
	proj *vlm.Param      // [D, ProjectionDim]
}

func newOpenAIView(m *ViT) (*openAIView, error) {
	v := &openAIView{m: m}
	for i, l := range m.Layers {
		a := l.Attn.Attn
		if a.Q == nil || a.K == nil || a.V == nil || a.Q.Bias == nil || a.K.Bias == nil || a.V.Bias == nil {
			return nil, vlm.Errorf(vlm.ErrConfig, "LoadOpenAIWeights: layer %d does not have separate q, k, v projections with biases", i)
		}
		w := vlm.Concat(nil, 0, a.Q.Weight.Value, a.K.Weight.Value, a.V.Weight.Value)
		b := vlm.Concat(nil, 0, a.Q.Bias.Value, a.K.Bias.Value, a.V.Bias.Value)
		v.qkv = append(v.qkv, [2]*vlm.Param{vlm.NewParam(w), vlm.NewParam(b)})
	}
	if m.Projection != nil {
		v.proj = vlm.NewParam(vlm.Transpose(nil, m.Projection.Weight.Value, 0, 1))
	}
	return v, nil
}

// VisitParams implements vlm.Module with OpenAI's names.
func (v *openAIView) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	m := v.m
	visit(prefix+"class_embedding", m.ClassEmbedding)
	visit(prefix+"positional_embedding", m.PositionEmbedding)
	visit(prefix+"conv1.weight", m.PatchEmbedding.Weight)
	m.PreNorm.VisitParams(prefix+"ln_pre.", visit)
	for i, l := range m.Layers {
		p := fmt.Sprintf("%stransformer.resblocks.%d.", prefix, i)
		l.Attn.Norm.VisitParams(p+"ln_1.", visit)
		visit(p+"attn.in_proj_weight", v.qkv[i][0])
		visit(p+"attn.in_proj_bias", v.qkv[i][1])
		l.Attn.Attn.Out.VisitParams(p+"attn.out_proj.", visit)
		l.FFN.Norm.VisitParams(p+"ln_2.", visit)
		l.FFN.MLP.FC1.VisitParams(p+"mlp.c_fc.", visit)
		l.FFN.MLP.FC2.VisitParams(p+"mlp.c_proj.", visit)
	}
	m.PostNorm.VisitParams(prefix+"ln_post.", visit)
	if v.proj != nil {
		visit(prefix+"proj", v.proj)
	}
}

// commit writes the fused and transposed copies back into the ViT.
func (v *openAIView) commit() {
	for i, l := range v.m.Layers {
		a := l.Attn.Attn
		w, b := v.qkv[i][0].Value.Data, v.qkv[i][1].Value.Data
		for j, t := range []*vlm.Linear{a.Q, a.K, a.V} {
			n := t.Weight.Value.Size()
			copy(t.Weight.Value.Data, w[j*n:(j+1)*n])
			copy(t.Bias.Value.Data, b[j*t.Out():(j+1)*t.Out()])
		}
	}
	if v.proj != nil {
		copy(v.m.Projection.Weight.Value.Data, vlm.Transpose(nil, v.proj.Value, 0, 1).Data)
	}
}
