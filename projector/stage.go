package projector

import "github.com/govlm/vlm"

// Stage is one of LLaVA's two training stages, as a freezing preset.
type Stage int

// The stages (haotian-liu/LLaVA scripts/v1_5/pretrain.sh, finetune.sh).
const (
	// Pretrain is stage 1, feature alignment: only the projector trains
	// (--tune_mm_mlp_adapter), on image-caption pairs.
	Pretrain Stage = 1
	// Finetune is stage 2, visual instruction tuning: the projector and
	// the whole language model train.
	Finetune Stage = 2
)

// String returns "pretrain" or "finetune".
func (s Stage) String() string {
	switch s {
	case Pretrain:
		return "pretrain"
	case Finetune:
		return "finetune"
	}
	return "Stage(?)"
}

// Apply sets which parameters train in stage s: every parameter of the
// vision encoder is frozen (LLaVA never trains it), every parameter of
// the projector trains, and the language model's train in Finetune and
// are frozen in Pretrain. Frozen parameters still pass gradients, so in
// Pretrain the loss of the frozen language model reaches the projector.
// A nil module is skipped.
func (s Stage) Apply(vision vlm.Module, proj *Projector, lm vlm.Module) error {
	if s != Pretrain && s != Finetune {
		return vlm.Errorf(vlm.ErrConfig, "projector: unknown training stage %d", int(s))
	}
	if vision != nil {
		vlm.Freeze(vision, "*")
	}
	if proj != nil {
		vlm.Unfreeze(proj, "*")
	}
	if lm != nil {
		if s == Pretrain {
			vlm.Freeze(lm, "*")
		} else {
			vlm.Unfreeze(lm, "*")
		}
	}
	return nil
}
