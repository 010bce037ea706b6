// Package hftest writes Hugging Face model folders for tests: safetensors
// files (single or sharded), pytorch_model.bin archives in torch.save's exact
// zip and pickle layout, and whole folders built from the real
// all-MiniLM-L6-v2 layout files in testdata/hf with a tiny shape and random
// weights from engine/modelgen. Nothing here needs Python or the network.
package hftest

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/quarry-search/quarry/engine/gguf"
)

// Tensor is one stored tensor: float data (written in the file's dtype) or,
// when Ints is set, an int64 buffer such as embeddings.position_ids.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
	Ints  []int64
}

// Round returns data as it reads back from dtype F32, F16 or BF16.
func Round(dtype string, data []float32) []float32 {
	out := make([]float32, len(data))
	for i, x := range data {
		switch dtype {
		case "F16":
			out[i] = gguf.F16ToF32(gguf.F32ToF16(x))
		case "BF16":
			out[i] = math.Float32frombits(uint32(bf16(x)) << 16)
		default:
			out[i] = x
		}
	}
	return out
}

// bf16 rounds to bfloat16, nearest even, as torch does.
func bf16(x float32) uint16 {
	b := math.Float32bits(x)
	if x != x { // NaN
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// encode returns a tensor's bytes and dtype name (safetensors spelling).
func encode(t Tensor, dtype string) ([]byte, string, error) {
	if t.Ints != nil {
		b := make([]byte, 8*len(t.Ints))
		for i, x := range t.Ints {
			binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
		}
		return b, "I64", nil
	}
	switch dtype {
	case "F32":
		return gguf.Float32Bytes(t.Data), "F32", nil
	case "F16":
		b := make([]byte, 2*len(t.Data))
		for i, x := range t.Data {
			binary.LittleEndian.PutUint16(b[2*i:], gguf.F32ToF16(x))
		}
		return b, "F16", nil
	case "BF16":
		b := make([]byte, 2*len(t.Data))
		for i, x := range t.Data {
			binary.LittleEndian.PutUint16(b[2*i:], bf16(x))
		}
		return b, "BF16", nil
	}
	return nil, "", fmt.Errorf("dtype %q: want F32, F16 or BF16", dtype)
}

// WriteSafetensors writes tensors to path in the safetensors format, floats
// as dtype (F32, F16 or BF16), in the given order.
func WriteSafetensors(path string, ts []Tensor, dtype string, metadata map[string]string) error {
	type entry struct {
		DType   string   `json:"dtype"`
		Shape   []int    `json:"shape"`
		Offsets [2]int64 `json:"data_offsets"`
	}
	hdr := map[string]any{}
	if metadata != nil {
		hdr["__metadata__"] = metadata
	}
	var data bytes.Buffer
	for _, t := range ts {
		b, dt, err := encode(t, dtype)
		if err != nil {
			return fmt.Errorf("%s: tensor %s: %w", path, t.Name, err)
		}
		off := int64(data.Len())
		data.Write(b)
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		hdr[t.Name] = entry{DType: dt, Shape: shape, Offsets: [2]int64{off, int64(data.Len())}}
	}
	h, err := json.Marshal(hdr)
	if err != nil {
		return err
	}
	// The header is padded with spaces to 8 bytes, as safetensors does.
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	var out bytes.Buffer
	binary.Write(&out, binary.LittleEndian, uint64(len(h)))
	out.Write(h)
	out.Write(data.Bytes())
	return os.WriteFile(path, out.Bytes(), 0o644)
}

// WriteSharded writes tensors into shards files named as transformers
// names them (model-00001-of-0000N.safetensors) plus
// model.safetensors.index.json in dir.
func WriteSharded(dir string, ts []Tensor, dtype string, shards int) error {
	if shards < 1 {
		shards = 1
	}
	per := (len(ts) + shards - 1) / shards
	weightMap := map[string]string{}
	total := 0
	for s := 0; s < shards; s++ {
		lo, hi := min(s*per, len(ts)), min((s+1)*per, len(ts))
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", s+1, shards)
		if err := WriteSafetensors(filepath.Join(dir, name), ts[lo:hi], dtype, map[string]string{"format": "pt"}); err != nil {
			return err
		}
		for _, t := range ts[lo:hi] {
			weightMap[t.Name] = name
			b, _, _ := encode(t, dtype)
			total += len(b)
		}
	}
	idx := map[string]any{"metadata": map[string]any{"total_size": total}, "weight_map": weightMap}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), append(b, '\n'), 0o644)
}

// TorchOptions shape a pytorch_model.bin.
type TorchOptions struct {
	// DType of the float tensors: F32 (default), F16 or BF16.
	DType string
	// Root is the archive's top folder; torch.save uses the file's stem in
	// current releases and "archive" in older ones. Default "archive".
	Root string
	// SharedStorage puts all float tensors into one storage, each at its
	// own offset, as torch.save does for views of one tensor.
	SharedStorage bool
	// Transposed names a 2-D tensor stored as a transposed (non-contiguous)
	// view, which readers must reject.
	Transposed string
}

// WriteTorch writes tensors to path as torch.save(state_dict) does since
// PyTorch 1.6: a zip (stored, 64-byte aligned) holding ROOT/data.pkl, a
// protocol 2 pickle of an OrderedDict of torch._utils._rebuild_tensor_v2
// calls with ('storage', torch.XStorage, key, 'cpu', numel) persistent ids,
// and the raw little-endian storages ROOT/data/KEY, plus ROOT/version and
// the other small records torch writes.
func WriteTorch(path string, ts []Tensor, o TorchOptions) error {
	if o.DType == "" {
		o.DType = "F32"
	}
	if o.Root == "" {
		o.Root = "archive"
	}
	storageClass := map[string]string{"F32": "FloatStorage", "F16": "HalfStorage", "BF16": "BFloat16Storage", "I64": "LongStorage"}
	esize := map[string]int{"F32": 4, "F16": 2, "BF16": 2, "I64": 8}

	type stored struct {
		key    string
		dtype  string
		numel  int
		offset int
		size   []int
		stride []int
	}
	var storages [][]byte // by key
	var storageDT []string
	layout := make([]stored, len(ts))
	shared := -1
	for i, t := range ts {
		b, dt, err := encode(t, o.DType)
		if err != nil {
			return fmt.Errorf("%s: tensor %s: %w", path, t.Name, err)
		}
		size := slices.Clone(t.Shape)
		stride := make([]int, len(size))
		acc := 1
		for d := len(size) - 1; d >= 0; d-- {
			stride[d] = acc
			acc *= size[d]
		}
		if t.Name == o.Transposed && len(size) == 2 {
			// The data are written as the transpose, and the tensor is a
			// view with swapped strides: the same values, not contiguous.
			rows, cols := size[0], size[1]
			tr := make([]float32, len(t.Data))
			for r := 0; r < rows; r++ {
				for c := 0; c < cols; c++ {
					tr[c*rows+r] = t.Data[r*cols+c]
				}
			}
			b, _, _ = encode(Tensor{Data: tr}, o.DType)
			stride = []int{1, rows}
		}
		n := len(b) / esize[dt]
		if o.SharedStorage && dt != "I64" && t.Name != o.Transposed {
			if shared < 0 {
				shared = len(storages)
				storages = append(storages, nil)
				storageDT = append(storageDT, dt)
			}
			layout[i] = stored{key: fmt.Sprint(shared), dtype: dt, offset: len(storages[shared]) / esize[dt], size: size, stride: stride}
			storages[shared] = append(storages[shared], b...)
			continue
		}
		layout[i] = stored{key: fmt.Sprint(len(storages)), dtype: dt, numel: n, size: size, stride: stride}
		storages = append(storages, b)
		storageDT = append(storageDT, dt)
	}
	for i := range layout {
		k := 0
		fmt.Sscan(layout[i].key, &k)
		layout[i].numel = len(storages[k]) / esize[storageDT[k]]
	}

	// The pickle, opcode for opcode as Python's pickler writes it.
	p := &pickler{memo: map[string]int{}}
	p.op(0x80, 2) // PROTO 2
	p.global("collections", "OrderedDict")
	p.op(')') // EMPTY_TUPLE
	p.op('R') // REDUCE
	p.put("") // memo the dict
	p.op('(') // MARK
	for i, t := range ts {
		s := layout[i]
		p.unicode(t.Name)
		p.global("torch._utils", "_rebuild_tensor_v2")
		p.op('(') // MARK: arguments
		p.op('(') // MARK: persistent id
		p.unicode("storage")
		p.global("torch", storageClass[s.dtype])
		p.unicode(s.key)
		p.unicode("cpu")
		p.int(s.numel)
		p.op('t') // TUPLE
		p.put("")
		p.op('Q') // BINPERSID
		p.int(s.offset)
		p.tuple(s.size)
		p.tuple(s.stride)
		p.op(0x89) // NEWFALSE: requires_grad
		p.global("collections", "OrderedDict")
		p.op(')')
		p.op('R') // backward_hooks = OrderedDict()
		p.put("")
		p.op('t') // TUPLE of the arguments
		p.put("")
		p.op('R') // REDUCE: the tensor
		p.put("")
	}
	p.op('u') // SETITEMS
	p.op('}') // EMPTY_DICT: the instance state
	p.put("")
	p.unicode("_metadata")
	p.global("collections", "OrderedDict")
	p.op(')')
	p.op('R')
	p.put("")
	p.unicode("")
	p.op('}')
	p.put("")
	p.unicode("version")
	p.int(1)
	p.op('s') // SETITEM version
	p.op('s') // SETITEM "" -> {version: 1}
	p.op('s') // SETITEM _metadata
	p.op('b') // BUILD
	p.op('.') // STOP

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	cw := &countWriter{w: bufio.NewWriter(f)}
	zw := zip.NewWriter(cw)
	add := func(name string, data []byte) error {
		if err := zw.Flush(); err != nil {
			return err
		}
		full := o.Root + "/" + name
		pad := (64 - (int(cw.n)+30+len(full)+4)%64) % 64
		extra := make([]byte, 4+pad)
		copy(extra, "FB")
		binary.LittleEndian.PutUint16(extra[2:], uint16(pad))
		w, err := zw.CreateRaw(&zip.FileHeader{
			Name: full, Method: zip.Store, Extra: extra,
			CRC32: crc32.ChecksumIEEE(data), CompressedSize64: uint64(len(data)), UncompressedSize64: uint64(len(data)),
		})
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	files := []struct {
		name string
		data []byte
	}{
		{"data.pkl", p.buf.Bytes()},
		{".format_version", []byte("1")},
		{".storage_alignment", []byte("64")},
		{"byteorder", []byte("little")},
	}
	for i, s := range storages {
		files = append(files, struct {
			name string
			data []byte
		}{fmt.Sprintf("data/%d", i), s})
	}
	files = append(files, []struct {
		name string
		data []byte
	}{{"version", []byte("3\n")}, {".data/serialization_id", []byte(strings.Repeat("0", 40))}}...)
	for _, fl := range files {
		if err := add(fl.name, fl.data); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return err
	}
	if err := cw.w.(*bufio.Writer).Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// pickler writes protocol 2 opcodes with Python's memoization: every
// string, global and tuple is put in the memo once and fetched after.
type pickler struct {
	buf  bytes.Buffer
	memo map[string]int
	next int
}

func (p *pickler) op(b ...byte) { p.buf.Write(b) }

// put memoizes the top of the stack (key "" for objects never fetched).
func (p *pickler) put(key string) {
	i := p.next
	p.next++
	if key != "" {
		p.memo[key] = i
	}
	if i < 256 {
		p.op('q', byte(i))
	} else {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(i))
		p.op('r')
		p.buf.Write(b[:])
	}
}

func (p *pickler) get(key string) bool {
	i, ok := p.memo[key]
	if !ok {
		return false
	}
	if i < 256 {
		p.op('h', byte(i))
	} else {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(i))
		p.op('j')
		p.buf.Write(b[:])
	}
	return true
}

func (p *pickler) unicode(s string) {
	if p.get("s:" + s) {
		return
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(len(s)))
	p.op('X')
	p.buf.Write(b[:])
	p.buf.WriteString(s)
	p.put("s:" + s)
}

func (p *pickler) global(mod, name string) {
	if p.get("g:" + mod + "." + name) {
		return
	}
	p.op('c')
	p.buf.WriteString(mod + "\n" + name + "\n")
	p.put("g:" + mod + "." + name)
}

func (p *pickler) int(x int) {
	switch {
	case x >= 0 && x <= 0xff:
		p.op('K', byte(x))
	case x >= 0 && x <= 0xffff:
		p.op('M', byte(x), byte(x>>8))
	case x >= math.MinInt32 && x <= math.MaxInt32:
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(int32(x)))
		p.op('J')
		p.buf.Write(b[:])
	default:
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(x))
		p.op(0x8a, 8)
		p.buf.Write(b[:])
	}
}

// tuple writes a tuple of ints as Python does: EMPTY_TUPLE, TUPLE1..3, or
// MARK ... TUPLE; non-empty tuples are memoized.
func (p *pickler) tuple(xs []int) {
	if len(xs) == 0 {
		p.op(')')
		return
	}
	if len(xs) > 3 {
		p.op('(')
	}
	for _, x := range xs {
		p.int(x)
	}
	switch len(xs) {
	case 1:
		p.op(0x85)
	case 2:
		p.op(0x86)
	case 3:
		p.op(0x87)
	default:
		p.op('t')
	}
	p.put("")
}
