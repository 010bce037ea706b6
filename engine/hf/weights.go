package hf

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/quarry-search/quarry/engine/gguf"
	"github.com/quarry-search/quarry/internal/fsx"
)

// rawTensor is one tensor of a weights file, read on demand.
type rawTensor struct {
	name  string // as stored
	file  string // weights file, relative to the model folder
	dtype string // safetensors spelling: F32, F16, BF16, F64, I64, ...
	shape []int
	read  func() ([]float32, error) // nil when dtype is not convertible
}

// weightSet is the tensors of a model's weights file(s).
type weightSet struct {
	format  string   // "safetensors" or "pytorch"
	files   []string // data files, relative to the folder
	index   string   // the shard index file, if sharded
	tensors map[string]*rawTensor
	closers []io.Closer
}

func (w *weightSet) Close() error {
	var errs []error
	for _, c := range w.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

func (w *weightSet) add(t *rawTensor) error {
	if prev, dup := w.tensors[t.name]; dup {
		return invalid("tensor %s is in both %s and %s", t.name, prev.file, t.file)
	}
	w.tensors[t.name] = t
	return nil
}

// Weight file names in transformers' order of preference.
const (
	safetensorsFile      = "model.safetensors"
	safetensorsIndexFile = "model.safetensors.index.json"
	torchFile            = "pytorch_model.bin"
	torchIndexFile       = "pytorch_model.bin.index.json"
)

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// openWeights finds and indexes the weights of the folder dir (rel is its
// name relative to the model folder, for messages and records).
func openWeights(dir, rel string) (*weightSet, error) {
	join := func(f string) string { return filepath.ToSlash(filepath.Join(rel, f)) }
	switch {
	case exists(filepath.Join(dir, safetensorsFile)):
		return openSafetensors(dir, []string{safetensorsFile}, join)
	case exists(filepath.Join(dir, safetensorsIndexFile)):
		return openSharded(dir, safetensorsIndexFile, join, openSafetensors)
	case exists(filepath.Join(dir, torchFile)):
		return openTorch(dir, []string{torchFile}, join)
	case exists(filepath.Join(dir, torchIndexFile)):
		return openSharded(dir, torchIndexFile, join, openTorch)
	}
	var others []string
	for _, f := range []string{"tf_model.h5", "flax_model.msgpack", "model.onnx", "onnx/model.onnx", "model.ckpt.index", "openvino_model.xml"} {
		if exists(filepath.Join(dir, f)) {
			others = append(others, f)
		}
	}
	msg := fmt.Sprintf("%sno weights: need %s, %s (with its shards) or %s", inDir(rel), safetensorsFile, safetensorsIndexFile, torchFile)
	if len(others) > 0 {
		msg += fmt.Sprintf(" (found %s, which quarry cannot read: convert it to safetensors with transformers first)", strings.Join(others, ", "))
	}
	return nil, fmt.Errorf("%s: %w", msg, os.ErrNotExist)
}

// inDir prefixes a message with a subfolder of the model ("" for none).
func inDir(rel string) string {
	if rel == "" || rel == "." {
		return ""
	}
	return rel + ": "
}

// openSharded opens the shards an index file lists and checks that every
// tensor of the index is in the shard it names.
func openSharded(dir, index string, join func(string) string,
	open func(string, []string, func(string) string) (*weightSet, error)) (*weightSet, error) {
	name := join(index)
	shards, wm, err := readIndex(filepath.Join(dir, index), name)
	if err != nil {
		return nil, err
	}
	ws, err := open(dir, shards, join)
	if err != nil {
		return nil, err
	}
	ws.index = name
	names := make([]string, 0, len(wm))
	for k := range wm {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		t, ok := ws.tensors[k]
		if !ok || t.file != join(wm[k]) {
			ws.Close()
			return nil, invalid("%s: weight_map puts tensor %s in %s, which does not hold it", name, k, join(wm[k]))
		}
	}
	return ws, nil
}

// readIndex reads a sharded checkpoint's index and returns its shard files,
// sorted, and the weight map.
func readIndex(path, name string) ([]string, map[string]string, error) {
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if _, err := readJSON(path, name, &idx); err != nil {
		return nil, nil, err
	}
	if len(idx.WeightMap) == 0 {
		return nil, nil, invalid("%s: field \"weight_map\" is missing or empty", name)
	}
	var shards []string
	names := make([]string, 0, len(idx.WeightMap))
	for k := range idx.WeightMap {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		f := idx.WeightMap[k]
		if f == "" || filepath.IsAbs(f) || strings.Contains(f, "..") || strings.ContainsAny(f, "/\\") {
			return nil, nil, invalid("%s: weight_map[%q] = %q is not a file name in the folder", name, k, f)
		}
		if !slices.Contains(shards, f) {
			shards = append(shards, f)
		}
	}
	slices.Sort(shards)
	return shards, idx.WeightMap, nil
}

// dtypeSize is the byte size of one element of a safetensors dtype, 0 if
// unknown.
func dtypeSize(dt string) int {
	switch dt {
	case "F64", "I64", "U64":
		return 8
	case "F32", "I32", "U32":
		return 4
	case "F16", "BF16", "I16", "U16":
		return 2
	case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2":
		return 1
	}
	return 0
}

// toFloat32 converts little-endian F32, F16, BF16 or F64 values.
func toFloat32(dt string, b []byte, n int) ([]float32, error) {
	out := make([]float32, n)
	switch dt {
	case "F32":
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case "F16":
		for i := range out {
			out[i] = gguf.F16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case "BF16":
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
	case "F64":
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	default:
		return nil, fmt.Errorf("dtype %s is not a float type (F32, F16, BF16 or F64)", dt)
	}
	return out, nil
}

func convertible(dt string) bool {
	switch dt {
	case "F32", "F16", "BF16", "F64":
		return true
	}
	return false
}

func numel(shape []int) (int, bool) {
	n := 1
	for _, d := range shape {
		if d < 0 || (d > 0 && n > math.MaxInt32/d) {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// maxSafetensorsHeader bounds the JSON header (the format's own limit is
// 100 MB).
const maxSafetensorsHeader = 100 << 20

func openSafetensors(dir string, files []string, join func(string) string) (*weightSet, error) {
	ws := &weightSet{format: "safetensors", tensors: map[string]*rawTensor{}}
	for _, f := range files {
		name := join(f)
		fh, err := fsx.OpenRegular(filepath.Join(dir, f), "safetensors file")
		if err != nil {
			ws.Close()
			return nil, fmt.Errorf("open weights %s: %w", name, err)
		}
		ws.closers = append(ws.closers, fh)
		ws.files = append(ws.files, name)
		st, err := fh.Stat()
		if err != nil {
			ws.Close()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := indexSafetensors(ws, fh, st.Size(), name); err != nil {
			ws.Close()
			return nil, err
		}
	}
	return ws, nil
}

// indexSafetensors indexes the tensors of the safetensors file of size
// bytes in fh, named name in errors.
func indexSafetensors(ws *weightSet, fh io.ReaderAt, size int64, name string) error {
	var lenb [8]byte
	if _, err := fh.ReadAt(lenb[:], 0); err != nil {
		return invalid("%s: not a safetensors file: %d bytes", name, size)
	}
	hlen := binary.LittleEndian.Uint64(lenb[:])
	if hlen < 2 || hlen > maxSafetensorsHeader || int64(hlen) > size-8 { // "{}" is the smallest header
		return invalid("%s: not a safetensors file: header length %d for a file of %d bytes", name, hlen, size)
	}
	hdr := make([]byte, hlen)
	if _, err := fh.ReadAt(hdr, 8); err != nil {
		return fmt.Errorf("%s: read header: %w", name, err)
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &entries); err != nil {
		return invalid("%s: safetensors header: %s", name, jsonProblem(hdr, err))
	}
	base := 8 + int64(hlen)
	dataLen := size - base
	for tname, raw := range entries {
		if tname == "__metadata__" {
			continue
		}
		var e struct {
			DType   string  `json:"dtype"`
			Shape   []int   `json:"shape"`
			Offsets []int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			return invalid("%s: safetensors header, tensor %s: %s", name, tname, jsonProblem(raw, err))
		}
		if len(e.Offsets) != 2 || e.Offsets[0] < 0 || e.Offsets[1] < e.Offsets[0] || e.Offsets[1] > dataLen {
			return invalid("%s: tensor %s has data_offsets %v outside the %d data bytes", name, tname, e.Offsets, dataLen)
		}
		n, ok := numel(e.Shape)
		if !ok {
			return invalid("%s: tensor %s has the bad shape %v", name, tname, e.Shape)
		}
		if es := dtypeSize(e.DType); es > 0 && int64(n*es) != e.Offsets[1]-e.Offsets[0] {
			return invalid("%s: tensor %s (%s %v) needs %d bytes but data_offsets %v hold %d", name, tname, e.DType, e.Shape, n*es, e.Offsets, e.Offsets[1]-e.Offsets[0])
		}
		rt := &rawTensor{name: tname, file: name, dtype: e.DType, shape: e.Shape}
		if convertible(e.DType) {
			off, nb, dt := base+e.Offsets[0], e.Offsets[1]-e.Offsets[0], e.DType
			rt.read = func() ([]float32, error) {
				b := make([]byte, nb)
				if _, err := fh.ReadAt(b, off); err != nil {
					return nil, fmt.Errorf("%s: read tensor %s: %w", name, tname, err)
				}
				return toFloat32(dt, b, n)
			}
		}
		if err := ws.add(rt); err != nil {
			return err
		}
	}
	return nil
}

// openTorch indexes pytorch_model.bin files: zip archives (torch.save since
// PyTorch 1.6) holding <root>/data.pkl and the storages <root>/data/<key>.
func openTorch(dir string, files []string, join func(string) string) (*weightSet, error) {
	ws := &weightSet{format: "pytorch", tensors: map[string]*rawTensor{}}
	for _, f := range files {
		name := join(f)
		zr, err := zip.OpenReader(filepath.Join(dir, f))
		if err != nil {
			ws.Close()
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("open weights %s: %w", name, err)
			}
			if b, rerr := readHead(filepath.Join(dir, f), 2); rerr == nil && len(b) == 2 && b[0] == opProto {
				return nil, unsupported("%s: legacy (pre-1.6, non-zip) torch.save format: load and re-save it with a current PyTorch, or convert it to safetensors", name)
			}
			return nil, invalid("%s: not a torch.save zip archive: %v", name, err)
		}
		ws.closers = append(ws.closers, zr)
		ws.files = append(ws.files, name)
		if err := indexTorch(ws, &zr.Reader, name); err != nil {
			ws.Close()
			return nil, err
		}
	}
	return ws, nil
}

func readHead(path string, n int) ([]byte, error) {
	f, err := fsx.OpenRegular(path, "")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	k, err := io.ReadFull(f, b)
	return b[:k], err
}

// maxPickle bounds data.pkl; a state dict's pickle is a few hundred bytes
// per tensor.
const maxPickle = 256 << 20

func indexTorch(ws *weightSet, zr *zip.Reader, name string) error {
	var pkl *zip.File
	var root string
	entries := map[string]*zip.File{}
	for _, f := range zr.File {
		entries[f.Name] = f
		if strings.HasSuffix(f.Name, "/data.pkl") && strings.Count(f.Name, "/") == 1 {
			if pkl != nil {
				return invalid("%s: two pickles (%s, %s): not a single torch.save archive", name, pkl.Name, f.Name)
			}
			pkl, root = f, strings.TrimSuffix(f.Name, "data.pkl")
		}
	}
	if pkl == nil {
		return invalid("%s: no <archive>/data.pkl: not a torch.save archive", name)
	}
	if bo, ok := entries[root+"byteorder"]; ok {
		b, err := readZipEntry(bo, 16)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", name, bo.Name, err)
		}
		if s := strings.TrimSpace(string(b)); s != "little" {
			return unsupported("%s: byte order %q (only little-endian archives are supported)", name, s)
		}
	}
	data, err := readZipEntry(pkl, maxPickle)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", name, pkl.Name, err)
	}
	obj, err := unpickle(data)
	if err != nil {
		return unsupported("%s: %s: %v", name, pkl.Name, err)
	}
	dict, ok := obj.(*pyDict)
	if !ok {
		return invalid("%s: the pickle holds a %T, not a state dict", name, obj)
	}
	// Storages shared by several tensors are read once.
	cache := map[string][]byte{}
	for _, k := range dict.keys {
		tname, ok := k.(string)
		if !ok {
			return invalid("%s: state dict key %v is not a string", name, k)
		}
		tt, ok := dict.m[k].(*torchTensor)
		if !ok {
			// Non-tensor entries (rare) are not weights.
			continue
		}
		rt := &rawTensor{name: tname, file: name, dtype: tt.storage.dtype, shape: tt.size}
		if convertible(tt.storage.dtype) {
			entry := root + "data/" + tt.storage.key
			rt.read = func() ([]float32, error) {
				b, ok := cache[entry]
				if !ok {
					f, ok := entries[entry]
					if !ok {
						return nil, invalid("%s: tensor %s: storage %s is missing from the archive", name, tname, entry)
					}
					var err error
					if b, err = readZipEntry(f, int64(tt.storage.numel)*int64(dtypeSize(tt.storage.dtype))); err != nil {
						return nil, fmt.Errorf("%s: tensor %s: %s: %w", name, tname, entry, err)
					}
					cache[entry] = b
				}
				return torchTensorData(tt, b, name, tname)
			}
		}
		if err := ws.add(rt); err != nil {
			return err
		}
	}
	return nil
}

// torchTensorData extracts a contiguous tensor from its storage bytes.
func torchTensorData(tt *torchTensor, b []byte, file, tname string) ([]float32, error) {
	n, ok := numel(tt.size)
	if !ok {
		return nil, invalid("%s: tensor %s has the bad size %v", file, tname, tt.size)
	}
	// Row-major strides; dimensions of size 1 may have any stride.
	want := 1
	for i := len(tt.size) - 1; i >= 0; i-- {
		if tt.size[i] != 1 && tt.stride[i] != want {
			return nil, unsupported("%s: tensor %s is a non-contiguous view (size %v, stride %v): save it with .contiguous() or as safetensors", file, tname, tt.size, tt.stride)
		}
		want *= tt.size[i]
	}
	es := dtypeSize(tt.storage.dtype)
	if int64(len(b)) < int64(tt.storage.numel)*int64(es) {
		return nil, invalid("%s: tensor %s: storage %s has %d bytes, the pickle says %d elements of %d bytes", file, tname, tt.storage.key, len(b), tt.storage.numel, es)
	}
	if tt.offset+int64(n) > tt.storage.numel {
		return nil, invalid("%s: tensor %s: offset %d + %d elements exceeds its storage of %d", file, tname, tt.offset, n, tt.storage.numel)
	}
	lo := tt.offset * int64(es)
	return toFloat32(tt.storage.dtype, b[lo:lo+int64(n*es)], n)
}

// readZipEntry reads a zip entry of at most limit bytes.
func readZipEntry(f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("entry of %d bytes, expected at most %d", f.UncompressedSize64, limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	buf.Grow(int(f.UncompressedSize64))
	if _, err := io.Copy(&buf, io.LimitReader(rc, limit+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("entry larger than %d bytes", limit)
	}
	return buf.Bytes(), nil
}
