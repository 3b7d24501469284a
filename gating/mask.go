package gating

import (
	"strconv"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
)

// Mode says which media a text token may attend to. Both references
// default to Immediate (only_attend_immediate_media=True).
type Mode int

const (
	// Immediate: a text token attends only to the media of the last
	// <image> token at or before it (text_time == media_time). Text
	// before the first <image> outputs exactly zero.
	Immediate Mode = iota
	// AllPrevious: a text token attends to the media of every <image>
	// token at or before it (text_time >= media_time). Text before the
	// first <image> outputs the uniform mean of all media values, as the
	// references do.
	AllPrevious
)

// String returns "immediate" or "all-previous".
func (m Mode) String() string {
	switch m {
	case Immediate:
		return "immediate"
	case AllPrevious:
		return "all-previous"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

func (m Mode) valid() bool { return m == Immediate || m == AllPrevious }

// Locations marks the <image> tokens of a batch of text: At holds B×T
// flags, row-major, true where token i of sample b is an <image> token
// (the references' media_locations). Its methods panic with an ErrShape
// *vlm.Error if At does not hold B×T flags.
type Locations struct {
	B, T int
	At   []bool
}

// NewLocations returns the locations of b sequences of t tokens from
// at [B, T], which it keeps (not copied).
func NewLocations(b, t int, at []bool) (*Locations, error) {
	if b < 1 || t < 0 || len(at) != b*t {
		return nil, vlm.Errorf(vlm.ErrShape, "gating: %d media locations for [B, T] = [%d %d]", len(at), b, t)
	}
	return &Locations{B: b, T: t, At: at}, nil
}

// Locate returns the locations of imageID in the token ids [B, T]
// (row-major), as the references do: media_locations = input_ids ==
// media_token_id.
func Locate(ids []int, b, t, imageID int) (*Locations, error) {
	if b < 1 || t < 0 || len(ids) != b*t {
		return nil, vlm.Errorf(vlm.ErrShape, "gating: %d token ids for [B, T] = [%d %d]", len(ids), b, t)
	}
	at := make([]bool, len(ids))
	for i, id := range ids {
		at[i] = id == imageID
	}
	return &Locations{B: b, T: t, At: at}, nil
}

// check panics unless l holds [B, T] flags (locations built by hand).
func (l *Locations) check() {
	if l.B < 1 || l.T < 0 || len(l.At) != l.B*l.T {
		vlm.Panicf(vlm.ErrShape, "gating: %d media locations for [B, T] = [%d %d]", len(l.At), l.B, l.T)
	}
}

// Count returns the number of <image> tokens of sample b.
func (l *Locations) Count(b int) int {
	l.check()
	n := 0
	for _, at := range l.At[b*l.T : (b+1)*l.T] {
		if at {
			n++
		}
	}
	return n
}

// TextTime is the references' text_time [B, T]: for each text token, the
// 1-based index of the media item it follows — the number of <image>
// tokens at or before it; 0 before the first. Time is row-major.
type TextTime struct {
	B, T int
	Time []int
}

// TextTime returns the running count of <image> tokens,
// text_time = cumsum(media_locations): for `t <img> t t <img> t` it is
// 0 1 1 1 2 2 (an <image> token belongs to its own image).
func (l *Locations) TextTime() *TextTime {
	l.check()
	tt := &TextTime{B: l.B, T: l.T, Time: make([]int, len(l.At))}
	for b := range l.B {
		c := 0
		for i := range l.T {
			if l.At[b*l.T+i] {
				c++
			}
			tt.Time[b*l.T+i] = c
		}
	}
	return tt
}

// Cached returns the text time of t new tokens that follow the text of l
// when generating with cached media (open_flamingo's use_cached_media):
// every new token gets the sample's number of <image> tokens, so it
// attends to the last image (or, in AllPrevious mode, to every image);
// a sample without any <image> gets 0 (zero output in Immediate mode).
func (l *Locations) Cached(t int) *TextTime {
	l.check()
	tt := &TextTime{B: l.B, T: t, Time: make([]int, l.B*t)}
	for b := range l.B {
		c := l.Count(b)
		for i := range t {
			tt.Time[b*t+i] = c
		}
	}
	return tt
}

func (tt *TextTime) check(b, t int) error {
	if tt.B != b || tt.T != t || len(tt.Time) != b*t {
		return vlm.Errorf(vlm.ErrShape, "gating: text time [%d %d] with %d values for text [%d %d]", tt.B, tt.T, len(tt.Time), b, t)
	}
	for i, v := range tt.Time {
		if v < 0 {
			return vlm.Errorf(vlm.ErrInput, "gating: text time %d < 0 at sample %d, token %d", v, i/t, i%t)
		}
	}
	return nil
}

// Mask returns the attention masks of text with this text time over the
// media keys of m items of n tokens each (key j belongs to item j/n,
// media_time j/n+1):
//
//	keep [B, 1, T, m·n]   Immediate: text_time == media_time; AllPrevious: text_time >= media_time,
//	                      and the item is real (real [B, m] row-major; nil = every item is real)
//	rows [B, 1, T, 1]     Immediate only (nil otherwise): text_time != 0
//
// Use keep with attention.FillReplaceMax and rows as Options.KeepRows. A
// row of keep without any key is the references' fully masked row: its
// masked scores are all replaced by the same constant, so it outputs the
// uniform mean of the values of all m·n media tokens, padded items
// included, and passes no gradient to its query. That happens to text
// before the first <image> in AllPrevious mode, and in Immediate mode to
// a text_time beyond m (the references' text_time > T_img) or pointing at
// a padded item. Only Immediate mode zeroes rows, and only text_time 0.
func (tt *TextTime) Mask(mode Mode, m, n int, real []bool) (keep, rows *attention.Mask) {
	if m < 1 || n < 1 || (real != nil && len(real) != tt.B*m) || !mode.valid() {
		vlm.Panicf(vlm.ErrShape, "gating: mask for %d media of %d tokens, %d media flags for %d samples, mode %v", m, n, len(real), tt.B, mode)
	}
	keep = attention.NewMask(tt.B, 1, tt.T, m*n, func(b, _, i, j int) bool {
		item, time := j/n, tt.Time[b*tt.T+i]
		if real != nil && !real[b*m+item] {
			return false
		}
		if mode == Immediate {
			return time == item+1
		}
		return time >= item+1
	})
	if mode == Immediate {
		rows = attention.NewMask(tt.B, 1, tt.T, 1, func(b, _, i, _ int) bool { return tt.Time[b*tt.T+i] != 0 })
	}
	return keep, rows
}
