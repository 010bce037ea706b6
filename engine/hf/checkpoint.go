package hf

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/quarry-search/quarry/engine/bert"
	"github.com/quarry-search/quarry/internal/fsx"
)

// maxShapeErrors bounds the tensor problems listed in one error.
const maxShapeErrors = 12

var layerIndex = regexp.MustCompile(`^encoder\.layer\.(\d+)\.`)

// readWeights indexes the weights, checks every tensor the model needs
// (present once, right shape, float dtype) and reads them.
func (l *loader) readWeights(ctx context.Context) error {
	cfg := &l.m.Config
	ws, err := openWeights(l.path(l.hfRel), l.hfRel)
	if err != nil {
		return err
	}
	defer ws.Close()
	l.m.Format = ws.format
	if ws.index != "" {
		l.m.Files = append(l.m.Files, ws.index)
	}
	l.m.Files = append(l.m.Files, ws.files...)
	l.m.WeightFiles = ws.files

	byName := map[string][]*rawTensor{}
	for _, t := range ws.tensors {
		n := bert.NormalizeName(t.name)
		byName[n] = append(byName[n], t)
	}
	specs := bert.Layout(*cfg)
	used := map[string]bool{}
	// SPLADE: the decoder bias may be stored only as
	// cls.predictions.decoder.bias (the same parameter in transformers).
	const mlmBias, decBias, decWeight = "cls.predictions.bias", "cls.predictions.decoder.bias", "cls.predictions.decoder.weight"
	if cfg.Sparse() && len(byName[mlmBias]) == 0 && len(byName[decBias]) == 1 {
		byName[mlmBias] = byName[decBias]
		delete(byName, decBias)
	}
	picked := make([]*rawTensor, len(specs))
	var errs []error
	for i, s := range specs {
		cands := byName[s.Name]
		switch {
		case len(cands) == 0:
			errs = append(errs, fmt.Errorf("tensor %s is missing from %s (want shape %v)", s.Name, strings.Join(ws.files, ", "), s.Shape))
			continue
		case len(cands) > 1:
			names := []string{}
			for _, c := range cands {
				names = append(names, c.name+" ("+c.file+")")
			}
			slices.Sort(names)
			errs = append(errs, fmt.Errorf("tensors %s all name the parameter %s", strings.Join(names, " and "), s.Name))
			continue
		}
		t := cands[0]
		used[t.name] = true
		if !slices.Equal(t.shape, s.Shape) {
			errs = append(errs, fmt.Errorf("tensor %s in %s has shape %v, want %v%s", t.name, t.file, t.shape, s.Shape, l.shapeHint(s.Name)))
			continue
		}
		if t.read == nil {
			errs = append(errs, fmt.Errorf("tensor %s in %s has dtype %s: only F32, F16, BF16 (and F64) weights are supported", t.name, t.file, t.dtype))
			continue
		}
		picked[i] = t
	}
	// SPLADE: a stored decoder weight and bias must be the tied parameters
	// (quarry's decoder is the word embeddings), checked after reading.
	var tied [][2]string // stored name, the parameter it must equal
	if cfg.Sparse() {
		for _, c := range []struct{ alias, param string }{{decWeight, "embeddings.word_embeddings.weight"}, {decBias, mlmBias}} {
			switch cands := byName[c.alias]; len(cands) {
			case 0:
			case 1:
				if !slices.Equal(cands[0].shape, specShape(specs, c.param)) {
					errs = append(errs, fmt.Errorf("tensor %s in %s has shape %v, want %v (the shape of %s, to which it is tied)", cands[0].name, cands[0].file, cands[0].shape, specShape(specs, c.param), c.param))
					continue
				}
				used[cands[0].name] = true
				tied = append(tied, [2]string{cands[0].name, c.param})
			default:
				errs = append(errs, fmt.Errorf("%d tensors name the parameter %s", len(cands), c.alias))
			}
		}
	}
	var ignored []string
	for name := range ws.tensors {
		if used[name] {
			continue
		}
		ignored = append(ignored, name)
		if m := layerIndex.FindStringSubmatch(bert.NormalizeName(name)); m != nil {
			if k, _ := strconv.Atoi(m[1]); k >= cfg.Layers {
				errs = append(errs, fmt.Errorf("tensor %s in %s belongs to layer %d, but %s says num_hidden_layers %d", name, ws.tensors[name].file, k, l.hfName("config.json"), cfg.Layers))
			}
		}
	}
	if len(errs) > 0 {
		if len(errs) > maxShapeErrors {
			n := len(errs)
			errs = append(errs[:maxShapeErrors], fmt.Errorf("... and %d more", n-maxShapeErrors))
		}
		return invalid("%sthe weights do not match %s (vocab_size %d, hidden_size %d, num_hidden_layers %d, intermediate_size %d, max_position_embeddings %d, type_vocab_size %d%s):\n%v",
			inDir(l.hfRel), l.hfName("config.json"), cfg.VocabSize, cfg.Hidden, cfg.Layers, cfg.Intermediate, cfg.MaxPositions, cfg.TypeVocabSize, l.labelHint(), errors.Join(errs...))
	}
	slices.Sort(ignored)
	l.m.Ignored = ignored

	ck := bert.NewCheckpoint()
	dtypes := map[string]bool{}
	for i, s := range specs {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := picked[i]
		data, err := t.read()
		if err != nil {
			return err
		}
		ck.Set(s.Name, s.Shape, data)
		dtypes[t.dtype] = true
	}
	for _, tp := range tied {
		t := ws.tensors[tp[0]]
		if t.read == nil {
			return invalid("%stensor %s in %s has dtype %s: only F32, F16, BF16 (and F64) weights are supported", inDir(l.hfRel), t.name, t.file, t.dtype)
		}
		data, err := t.read()
		if err != nil {
			return err
		}
		want, _ := ck.Get(tp[1])
		if !slices.Equal(data, want.Data) {
			return unsupported("%stensor %s in %s differs from %s: quarry's SPLADE decoder is tied to the word embeddings and the MLM bias (an untied MLM decoder is not supported)", inDir(l.hfRel), t.name, t.file, tp[1])
		}
	}
	l.m.Checkpoint = ck
	for d := range dtypes {
		l.m.WeightDTypes = append(l.m.WeightDTypes, d)
	}
	slices.Sort(l.m.WeightDTypes)

	// Provenance: the files and their hashes.
	var sums []string
	for _, f := range ws.files {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := fsx.SHA256(l.path(f))
		if err != nil {
			return err
		}
		if len(ws.files) == 1 {
			sums = append(sums, h)
		} else {
			sums = append(sums, filepath.Base(f)+":"+h)
		}
	}
	if cfg.Source == nil {
		cfg.Source = map[string]string{}
	}
	cfg.Source["weights"] = strings.Join(ws.files, ",")
	cfg.Source["weights_format"] = ws.format
	cfg.Source["weights_dtype"] = strings.Join(l.m.WeightDTypes, ",")
	cfg.Source["sha256"] = strings.Join(sums, ",")
	cfg.Source["files"] = strings.Join(l.m.Files, ",")
	return nil
}

func (l *loader) shapeHint(name string) string {
	if name == "classifier.weight" || name == "classifier.bias" {
		return fmt.Sprintf(" (%d labels from %s)", len(l.m.Config.Labels), l.hfName("config.json"))
	}
	return ""
}

func (l *loader) labelHint() string {
	if l.m.Config.Pooling == bert.PoolingRank {
		return fmt.Sprintf(", %d labels", len(l.m.Config.Labels))
	}
	return ""
}

// specShape is the shape Layout gives the parameter name.
func specShape(specs []bert.TensorSpec, name string) []int {
	for _, s := range specs {
		if s.Name == name {
			return s.Shape
		}
	}
	return nil
}
