package gating_test

import (
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/gating"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The text `t <img> t t <img> t` with two media items of two visual
// tokens each: keys 0-1 are image 1's, keys 2-3 image 2's.
const img = 9

var prompt = []int{5, img, 6, 7, img, 8}

func TestTextTime(t *testing.T) {
	loc, err := gating.Locate(prompt, 1, 6, img)
	require.NoError(t, err)
	assert.Equal(t, []bool{false, true, false, false, true, false}, loc.At)
	assert.Equal(t, 2, loc.Count(0))
	assert.Equal(t, []int{0, 1, 1, 1, 2, 2}, loc.TextTime().Time)
	assert.Equal(t, []int{2, 2, 2}, loc.Cached(3).Time)

	none, err := gating.NewLocations(2, 2, []bool{false, false, true, false})
	require.NoError(t, err)
	assert.Equal(t, []int{0, 0, 1, 1}, none.TextTime().Time)
	assert.Equal(t, []int{0, 1}, none.Cached(1).Time)

	_, err = gating.Locate(prompt, 2, 6, img)
	assert.ErrorIs(t, err, vlm.ErrShape)
	_, err = gating.NewLocations(1, 3, []bool{true})
	assert.ErrorIs(t, err, vlm.ErrShape)
	bad := &gating.Locations{B: 2, T: 3, At: make([]bool, 5)}
	assert.Panics(t, func() { bad.TextTime() })
	assert.Panics(t, func() { bad.Cached(1) })
}

func TestMaskMatrices(t *testing.T) {
	loc, err := gating.Locate(prompt, 1, 6, img)
	require.NoError(t, err)
	for _, c := range []struct {
		name       string
		tt         *gating.TextTime
		mode       gating.Mode
		real       []bool
		keep, rows string
	}{
		{
			// Each token sees the image of the last <image> at or before
			// it; `t` before the first image sees nothing and is zeroed.
			name: "immediate", tt: loc.TextTime(), mode: gating.Immediate,
			keep: "0000\n1100\n1100\n1100\n0011\n0011\n", rows: "0\n1\n1\n1\n1\n1\n",
		},
		{
			// Each token sees every image so far; the first `t` is fully
			// masked (uniform over all four keys) and not zeroed.
			name: "all previous", tt: loc.TextTime(), mode: gating.AllPrevious,
			keep: "0000\n1100\n1100\n1100\n1111\n1111\n",
		},
		{
			// Image 2's slot is padding: the tokens that point at it are
			// fully masked (uniform over all keys, as text_time > T_img in
			// the references), not zeroed.
			name: "immediate, second slot padded", tt: loc.TextTime(), mode: gating.Immediate, real: []bool{true, false},
			keep: "0000\n1100\n1100\n1100\n0000\n0000\n", rows: "0\n1\n1\n1\n1\n1\n",
		},
		{
			name: "all previous, second slot padded", tt: loc.TextTime(), mode: gating.AllPrevious, real: []bool{true, false},
			keep: "0000\n1100\n1100\n1100\n1100\n1100\n",
		},
		{
			// Generating with cached media: new tokens see the last image.
			name: "cached, immediate", tt: loc.Cached(2), mode: gating.Immediate,
			keep: "0011\n0011\n", rows: "1\n1\n",
		},
		{
			name: "cached, all previous", tt: loc.Cached(2), mode: gating.AllPrevious,
			keep: "1111\n1111\n",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			keep, rows := c.tt.Mask(c.mode, 2, 2, c.real)
			assert.Equal(t, [4]int{1, 1, c.tt.T, 4}, keep.Shape)
			assert.Equal(t, c.keep, keep.String())
			if c.rows == "" {
				assert.Nil(t, rows)
			} else {
				assert.Equal(t, c.rows, rows.String())
			}
		})
	}
}

func TestMaskTextPastMedia(t *testing.T) {
	// Three <image> tokens, two media: in Immediate mode text_time 3 >
	// T_img is fully masked (the references' uniform mean of all media),
	// not zeroed; in AllPrevious mode it sees both media.
	loc, err := gating.Locate([]int{img, 1, img, img, 2}, 1, 5, img)
	require.NoError(t, err)
	keep, rows := loc.TextTime().Mask(gating.Immediate, 2, 1, nil)
	assert.Equal(t, "10\n10\n01\n00\n00\n", keep.String())
	assert.Equal(t, "1\n1\n1\n1\n1\n", rows.String())
	keep, _ = loc.TextTime().Mask(gating.AllPrevious, 2, 1, nil)
	assert.Equal(t, "10\n10\n11\n11\n11\n", keep.String())
}

func TestModeAndPlacementStrings(t *testing.T) {
	assert.Equal(t, "immediate", gating.Immediate.String())
	assert.Equal(t, "all-previous", gating.AllPrevious.String())
	assert.Equal(t, "Mode(7)", gating.Mode(7).String())
	assert.Equal(t, "before", gating.Before.String())
	assert.Equal(t, "after", gating.After.String())
	assert.Equal(t, "Placement(-1)", gating.Placement(-1).String())
}

func TestPlacement(t *testing.T) {
	has := func(p gating.Placement, n, every int) []int {
		var out []int
		for i := range n {
			if p.Has(i, every) {
				out = append(out, i)
			}
		}
		return out
	}
	// open_flamingo: (i+1) % n == 0.
	assert.Equal(t, []int{0, 1, 2, 3}, has(gating.Before, 4, 1))
	assert.Equal(t, []int{1, 3, 5}, has(gating.Before, 6, 2))
	assert.Equal(t, []int{3, 7}, has(gating.Before, 8, 4))
	// lucidrains: i % n == 0.
	assert.Equal(t, []int{0, 3, 6}, has(gating.After, 8, 3))
	assert.Equal(t, []int{0, 2, 4}, has(gating.After, 6, 2))
}
