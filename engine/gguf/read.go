package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"unsafe"

	"github.com/quarry-search/quarry/engine/errs"
	"github.com/quarry-search/quarry/internal/fsx"
)

// Limits that keep a hostile header from making the reader allocate without
// bound. Real models are far below them.
const (
	maxKV         = 1 << 20
	maxTensors    = 1 << 20
	maxDims       = 4
	maxStringLen  = 1 << 30
	maxArrayDepth = 4
)

// Value is one metadata value. Scalars keep their exact encoded type; arrays
// keep their element type in ArrayType.
type Value struct {
	Type      ValueType
	ArrayType ValueType // element type when Type == TypeArray
	v         any       // bool, int64, uint64, float64, string, or []T for arrays
}

// KV is one metadata entry, in file order.
type KV struct {
	Key   string
	Value Value
}

// TensorInfo describes one tensor of the file. Dims are ggml's ne[] order:
// Dims[0] is the fastest-varying (row length).
type TensorInfo struct {
	Name   string
	Dims   []int64
	Type   TensorType
	Offset int64 // from the start of the data section
	Size   int64 // bytes
}

// Elements is the product of the tensor's dimensions.
func (t *TensorInfo) Elements() int64 {
	n := int64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// File is a parsed GGUF header: metadata and tensor directory.
type File struct {
	Version    uint32
	KV         []KV
	Tensors    []TensorInfo
	Alignment  int64
	DataOffset int64 // absolute offset of the data section
	Size       int64 // size of the whole file

	kv      map[string]int
	tensors map[string]int
}

// FormatError is returned for a file that is not a valid GGUF. Field names the
// part of the file that failed and Offset where it starts.
type FormatError struct {
	Path   string
	Offset int64
	Field  string
	Msg    string
}

func (e *FormatError) Error() string {
	p := e.Path
	if p == "" {
		p = "gguf"
	}
	return fmt.Sprintf("%s: invalid GGUF at byte %d (%s): %s", p, e.Offset, e.Field, e.Msg)
}

// ErrorKind classifies a malformed GGUF as bad input: the caller gave a file
// that is not a (complete) GGUF model. A file without the GGUF magic is one
// too (its error wraps both a FormatError and ErrNotGGUF).
func (e *FormatError) ErrorKind() errs.Kind { return errs.BadInput }

// ErrNotGGUF is wrapped by the error for a file that does not start with the
// GGUF magic.
var ErrNotGGUF = errors.New("not a GGUF file")

// notGGUF is a FormatError that also matches ErrNotGGUF.
type notGGUF struct{ *FormatError }

func (e notGGUF) Unwrap() []error { return []error{e.FormatError, ErrNotGGUF} }

// Open parses the header of the GGUF file at path.
func Open(path string) (*File, error) {
	f, err := fsx.OpenRegular(path, "GGUF file") // never blocks on a FIFO or device
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	return parse(f, st.Size(), path)
}

type reader struct {
	path string
	r    *bufio.Reader
	off  int64
	size int64
	fld  string

	scratch [8]byte
}

func (r *reader) fail(msg string, args ...any) error {
	return &FormatError{Path: r.path, Offset: r.off, Field: r.fld, Msg: fmt.Sprintf(msg, args...)}
}

func (r *reader) remaining() int64 { return r.size - r.off }

func (r *reader) bytes(n int64) ([]byte, error) {
	if n < 0 || n > r.remaining() {
		return nil, r.fail("needs %d bytes, file has %d left (truncated?)", n, r.remaining())
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r.r, b); err != nil {
		return nil, r.fail("read: %v", err)
	}
	r.off += n
	return b, nil
}

// fixed reads n ≤ 8 bytes into the reader's scratch buffer.
func (r *reader) fixed(n int64) ([]byte, error) {
	if n > r.remaining() {
		return nil, r.fail("needs %d bytes, file has %d left (truncated?)", n, r.remaining())
	}
	b := r.scratch[:n]
	if _, err := io.ReadFull(r.r, b); err != nil {
		return nil, r.fail("read: %v", err)
	}
	r.off += n
	return b, nil
}

func (r *reader) u32() (uint32, error) {
	b, err := r.fixed(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (r *reader) u64() (uint64, error) {
	b, err := r.fixed(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (r *reader) str() (string, error) {
	n, err := r.u64()
	if err != nil {
		return "", err
	}
	if n > maxStringLen || int64(n) > r.remaining() {
		return "", r.fail("string length %d exceeds the %d bytes left (truncated?)", n, r.remaining())
	}
	if n == 0 {
		return "", nil
	}
	b, err := r.bytes(int64(n))
	if err != nil {
		return "", err
	}
	return unsafe.String(&b[0], len(b)), nil // b is fresh and never written again: no second copy
}

// Parse reads and validates a GGUF header from r, whose total size is size.
func Parse(ra io.ReaderAt, size int64) (*File, error) { return parse(ra, size, "") }

func parse(ra io.ReaderAt, size int64, path string) (*File, error) {
	r := &reader{path: path, r: bufio.NewReaderSize(io.NewSectionReader(ra, 0, size), 1<<16), size: size, fld: "magic"}
	magic, err := r.bytes(4)
	if err != nil {
		return nil, notGGUF{r.fail("file is shorter than the 4-byte magic").(*FormatError)}
	}
	if string(magic) != Magic {
		return nil, notGGUF{r.fail("magic is %q, want %q: not a GGUF file", magic, Magic).(*FormatError)}
	}
	f := &File{Size: size, Alignment: DefaultAlignment, kv: map[string]int{}, tensors: map[string]int{}}
	r.fld = "version"
	if f.Version, err = r.u32(); err != nil {
		return nil, err
	}
	if f.Version != 2 && f.Version != 3 {
		return nil, r.fail("version %d is not supported (2 or 3)", f.Version)
	}
	r.fld = "tensor count"
	nt, err := r.u64()
	if err != nil {
		return nil, err
	}
	if nt > maxTensors {
		return nil, r.fail("%d tensors exceeds the limit of %d", nt, maxTensors)
	}
	r.fld = "metadata count"
	nkv, err := r.u64()
	if err != nil {
		return nil, err
	}
	if nkv > maxKV {
		return nil, r.fail("%d metadata entries exceeds the limit of %d", nkv, maxKV)
	}
	for i := uint64(0); i < nkv; i++ {
		r.fld = fmt.Sprintf("metadata entry %d key", i)
		key, err := r.str()
		if err != nil {
			return nil, err
		}
		if _, dup := f.kv[key]; dup {
			return nil, r.fail("duplicate metadata key %q", key)
		}
		r.fld = fmt.Sprintf("metadata %q", key)
		t, err := r.u32()
		if err != nil {
			return nil, err
		}
		v, err := r.value(ValueType(t), 0)
		if err != nil {
			return nil, err
		}
		f.kv[key] = len(f.KV)
		f.KV = append(f.KV, KV{Key: key, Value: v})
	}
	if v, ok := f.Get("general.alignment"); ok {
		a, ok := v.Uint()
		if !ok || a == 0 || a&(a-1) != 0 || a > 1<<20 {
			return nil, &FormatError{Path: path, Offset: r.off, Field: "general.alignment", Msg: fmt.Sprintf("alignment %v must be a power of two", v)}
		}
		f.Alignment = int64(a)
	}
	for i := uint64(0); i < nt; i++ {
		r.fld = fmt.Sprintf("tensor %d name", i)
		name, err := r.str()
		if err != nil {
			return nil, err
		}
		if _, dup := f.tensors[name]; dup {
			return nil, r.fail("duplicate tensor %q", name)
		}
		r.fld = fmt.Sprintf("tensor %q", name)
		nd, err := r.u32()
		if err != nil {
			return nil, err
		}
		if nd == 0 || nd > maxDims {
			return nil, r.fail("%d dimensions (1 to %d allowed)", nd, maxDims)
		}
		ti := TensorInfo{Name: name, Dims: make([]int64, nd)}
		total := int64(1)
		for d := range ti.Dims {
			x, err := r.u64()
			if err != nil {
				return nil, err
			}
			// A zero dimension is refused: no model has an empty tensor, and
			// ggml's own GGUF loader divides by each dimension (a SIGFPE the
			// native core cannot catch; found by FuzzGGUFModel).
			if x == 0 || x > math.MaxInt64/2 {
				return nil, r.fail("dimension %d is %d", d, x)
			}
			ti.Dims[d] = int64(x)
			if total > math.MaxInt64/int64(x) {
				return nil, r.fail("element count overflows")
			}
			total *= int64(x)
		}
		tt, err := r.u32()
		if err != nil {
			return nil, err
		}
		ti.Type = TensorType(tt)
		if !ti.Type.Known() {
			return nil, r.fail("unknown tensor type %d", tt)
		}
		if ti.Dims[0]%ti.Type.BlockSize() != 0 {
			return nil, r.fail("row of %d elements is not a multiple of the %s block size %d", ti.Dims[0], ti.Type, ti.Type.BlockSize())
		}
		if ti.Size, err = ti.Type.RowSize(total); err != nil {
			return nil, r.fail("%v", err)
		}
		off, err := r.u64()
		if err != nil {
			return nil, err
		}
		if off > math.MaxInt64/2 || int64(off)%f.Alignment != 0 {
			return nil, r.fail("data offset %d is not aligned to %d", off, f.Alignment)
		}
		ti.Offset = int64(off)
		f.tensors[name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, ti)
	}
	f.DataOffset = (r.off + f.Alignment - 1) / f.Alignment * f.Alignment
	if len(f.Tensors) > 0 && f.DataOffset > size {
		return nil, &FormatError{Path: path, Offset: r.off, Field: "data section", Msg: "file ends before the data section (truncated)"}
	}
	// Tensor data must lie inside the file and must not overlap.
	idx := make([]int, len(f.Tensors))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return f.Tensors[idx[a]].Offset < f.Tensors[idx[b]].Offset })
	end := int64(0)
	for _, i := range idx {
		t := &f.Tensors[i]
		if t.Offset < end {
			return nil, &FormatError{Path: path, Offset: f.DataOffset + t.Offset, Field: fmt.Sprintf("tensor %q", t.Name), Msg: "data overlaps the previous tensor"}
		}
		end = t.Offset + t.Size
		if f.DataOffset+end > size {
			return nil, &FormatError{Path: path, Offset: f.DataOffset + t.Offset, Field: fmt.Sprintf("tensor %q", t.Name),
				Msg: fmt.Sprintf("data ends at byte %d but the file has %d bytes (truncated)", f.DataOffset+end, size)}
		}
	}
	return f, nil
}

func (r *reader) value(t ValueType, depth int) (Value, error) {
	switch t {
	case TypeUint8, TypeUint16, TypeUint32, TypeUint64:
		b, err := r.fixed(int64(t.scalarSize()))
		if err != nil {
			return Value{}, err
		}
		return Value{Type: t, v: decodeUint(b)}, nil
	case TypeInt8, TypeInt16, TypeInt32, TypeInt64:
		b, err := r.fixed(int64(t.scalarSize()))
		if err != nil {
			return Value{}, err
		}
		return Value{Type: t, v: decodeInt(b)}, nil
	case TypeFloat32:
		b, err := r.fixed(4)
		if err != nil {
			return Value{}, err
		}
		return Value{Type: t, v: float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))}, nil
	case TypeFloat64:
		b, err := r.fixed(8)
		if err != nil {
			return Value{}, err
		}
		return Value{Type: t, v: math.Float64frombits(binary.LittleEndian.Uint64(b))}, nil
	case TypeBool:
		b, err := r.fixed(1)
		if err != nil {
			return Value{}, err
		}
		if b[0] > 1 {
			return Value{}, r.fail("bool byte is %d", b[0])
		}
		return Value{Type: t, v: b[0] == 1}, nil
	case TypeString:
		s, err := r.str()
		if err != nil {
			return Value{}, err
		}
		return Value{Type: t, v: s}, nil
	case TypeArray:
		if depth >= maxArrayDepth {
			return Value{}, r.fail("arrays nested deeper than %d", maxArrayDepth)
		}
		et, err := r.u32()
		if err != nil {
			return Value{}, err
		}
		n, err := r.u64()
		if err != nil {
			return Value{}, err
		}
		min := int64(ValueType(et).scalarSize())
		if ValueType(et) == TypeString || ValueType(et) == TypeArray {
			min = 8 // length or header prefix
		}
		if min == 0 {
			return Value{}, r.fail("array of unknown element type %d", et)
		}
		if n > uint64(r.remaining()/min) {
			return Value{}, r.fail("array of %d %s elements exceeds the %d bytes left", n, ValueType(et), r.remaining())
		}
		return r.array(ValueType(et), int(n), depth)
	}
	return Value{}, r.fail("unknown value type %d", uint32(t))
}

func (r *reader) array(et ValueType, n int, depth int) (Value, error) {
	v := Value{Type: TypeArray, ArrayType: et}
	switch et {
	case TypeString:
		a := make([]string, n)
		for i := range a {
			s, err := r.str()
			if err != nil {
				return Value{}, err
			}
			a[i] = s
		}
		v.v = a
	case TypeUint8, TypeUint16, TypeUint32, TypeUint64, TypeInt8, TypeInt16, TypeInt32, TypeInt64,
		TypeFloat32, TypeFloat64, TypeBool:
		// Fixed-size elements stay in their encoded little-endian bytes,
		// one copy the size of the file's (a 30k-entry i32 array is 120 kB,
		// not 30k int64s plus a read buffer); accessors decode on demand.
		b, err := r.bytes(int64(et.scalarSize()) * int64(n))
		if err != nil {
			return Value{}, err
		}
		if et == TypeBool {
			for i, x := range b {
				if x > 1 {
					r.off -= int64(len(b) - i)
					return Value{}, r.fail("bool byte is %d", x)
				}
			}
		}
		v.v = rawArray(b)
	case TypeArray:
		a := make([]Value, n)
		for i := range a {
			et2, err := r.u32()
			if err != nil {
				return Value{}, err
			}
			// Re-enter through value() for the nested header.
			r2, err := r.nested(ValueType(et2), depth+1)
			if err != nil {
				return Value{}, err
			}
			a[i] = r2
		}
		v.v = a
	default:
		return Value{}, r.fail("array of unknown element type %d", uint32(et))
	}
	return v, nil
}

// nested reads the count and elements of an array whose element type has
// already been read.
func (r *reader) nested(et ValueType, depth int) (Value, error) {
	if depth >= maxArrayDepth {
		return Value{}, r.fail("arrays nested deeper than %d", maxArrayDepth)
	}
	n, err := r.u64()
	if err != nil {
		return Value{}, err
	}
	min := int64(et.scalarSize())
	if et == TypeString || et == TypeArray {
		min = 8
	}
	if min == 0 {
		return Value{}, r.fail("array of unknown element type %d", et)
	}
	if n > uint64(r.remaining()/min) {
		return Value{}, r.fail("array of %d elements exceeds the %d bytes left", n, r.remaining())
	}
	return r.array(et, int(n), depth)
}

func decodeUint(b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(b))
	case 4:
		return uint64(binary.LittleEndian.Uint32(b))
	}
	return binary.LittleEndian.Uint64(b)
}

func decodeInt(b []byte) int64 {
	switch len(b) {
	case 1:
		return int64(int8(b[0]))
	case 2:
		return int64(int16(binary.LittleEndian.Uint16(b)))
	case 4:
		return int64(int32(binary.LittleEndian.Uint32(b)))
	}
	return int64(binary.LittleEndian.Uint64(b))
}

// Get returns the value of a metadata key.
func (f *File) Get(key string) (Value, bool) {
	i, ok := f.kv[key]
	if !ok {
		return Value{}, false
	}
	return f.KV[i].Value, true
}

// Tensor returns the tensor named name.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.tensors[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// String returns a string metadata value.
func (f *File) String(key string) (string, bool) {
	v, ok := f.Get(key)
	if !ok {
		return "", false
	}
	s, ok := v.v.(string)
	return s, ok
}

// Int returns an integer metadata value of any integer type.
func (f *File) Int(key string) (int64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return v.Int()
}

// Float returns a float (or integer) metadata value.
func (f *File) Float(key string) (float64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return v.Float()
}

// Bool returns a bool metadata value.
func (f *File) Bool(key string) (bool, bool) {
	v, ok := f.Get(key)
	if !ok {
		return false, false
	}
	b, ok := v.v.(bool)
	return b, ok
}

// Strings returns a string-array metadata value.
func (f *File) Strings(key string) ([]string, bool) {
	v, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	a, ok := v.v.([]string)
	return a, ok
}

// Ints returns an integer-array metadata value.
func (f *File) Ints(key string) ([]int64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	return v.Ints()
}

// Floats returns a float-array metadata value (f32 or f64 elements).
func (f *File) Floats(key string) ([]float64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	return v.Floats()
}

// Int returns the value as an integer if it is one.
func (v Value) Int() (int64, bool) {
	switch x := v.v.(type) {
	case int64:
		return x, true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	}
	return 0, false
}

// Uint returns the value as an unsigned integer if it is a non-negative integer.
func (v Value) Uint() (uint64, bool) {
	switch x := v.v.(type) {
	case int64:
		if x < 0 {
			return 0, false
		}
		return uint64(x), true
	case uint64:
		return x, true
	}
	return 0, false
}

// Float returns the value as a float if it is a number.
func (v Value) Float() (float64, bool) {
	switch x := v.v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

// Any returns the decoded Go value: bool, int64, uint64, float64, string,
// []string, []int64 (signed elements), []uint64 (unsigned), []float64,
// []bool or []Value. Numeric arrays are decoded into a new slice on each
// call.
func (v Value) Any() any {
	a, ok := v.v.(rawArray)
	if !ok {
		return v.v
	}
	switch v.ArrayType {
	case TypeInt8, TypeInt16, TypeInt32, TypeInt64:
		out, _ := v.Ints()
		return out
	case TypeUint8, TypeUint16, TypeUint32, TypeUint64:
		out := make([]uint64, v.Len())
		sz := v.ArrayType.scalarSize()
		for i := range out {
			out[i] = decodeUint(a[i*sz : (i+1)*sz])
		}
		return out
	case TypeFloat32, TypeFloat64:
		out, _ := v.Floats()
		return out
	case TypeBool:
		out := make([]bool, len(a))
		for i, x := range a {
			out[i] = x == 1
		}
		return out
	}
	return nil
}

// rawArray holds an array of fixed-size elements as the file encodes them
// (little-endian, Value.ArrayType each).
type rawArray []byte

// Ints decodes an integer array (any integer element type; unsigned
// elements above MaxInt64 wrap) into a new slice.
func (v Value) Ints() ([]int64, bool) {
	a, ok := v.v.(rawArray)
	if !ok || v.Type != TypeArray {
		return nil, false
	}
	sz := v.ArrayType.scalarSize()
	var signed bool
	switch v.ArrayType {
	case TypeInt8, TypeInt16, TypeInt32, TypeInt64:
		signed = true
	case TypeUint8, TypeUint16, TypeUint32, TypeUint64:
	default:
		return nil, false
	}
	out := make([]int64, len(a)/sz)
	for i := range out {
		b := a[i*sz : (i+1)*sz]
		if signed {
			out[i] = decodeInt(b)
		} else {
			out[i] = int64(decodeUint(b))
		}
	}
	return out, true
}

// Floats decodes an f32 or f64 array into a new slice.
func (v Value) Floats() ([]float64, bool) {
	a, ok := v.v.(rawArray)
	if !ok || v.Type != TypeArray {
		return nil, false
	}
	switch v.ArrayType {
	case TypeFloat32:
		out := make([]float64, len(a)/4)
		for i := range out {
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(a[4*i:])))
		}
		return out, true
	case TypeFloat64:
		out := make([]float64, len(a)/8)
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(a[8*i:]))
		}
		return out, true
	}
	return nil, false
}

// Len is the number of elements of an array value (0 for scalars).
func (v Value) Len() int {
	switch a := v.v.(type) {
	case []string:
		return len(a)
	case rawArray:
		return len(a) / v.ArrayType.scalarSize()
	case []Value:
		return len(a)
	}
	return 0
}

func (v Value) String() string {
	if v.Type == TypeArray {
		return fmt.Sprintf("[%d × %s]", v.Len(), v.ArrayType)
	}
	if s, ok := v.v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v.v)
}
