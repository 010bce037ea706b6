package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
)

// Writer builds a GGUF version 3 file: metadata in insertion order, then
// tensors in insertion order, each aligned to Alignment.
type Writer struct {
	Alignment int64
	kv        []KV
	keys      map[string]bool
	tensors   []wtensor
	names     map[string]bool
}

type wtensor struct {
	info TensorInfo
	data []byte
}

// NewWriter returns an empty writer with the default alignment.
func NewWriter() *Writer {
	return &Writer{Alignment: DefaultAlignment, keys: map[string]bool{}, names: map[string]bool{}}
}

func (w *Writer) add(key string, v Value) {
	if w.keys[key] {
		for i := range w.kv {
			if w.kv[i].Key == key {
				w.kv[i].Value = v
				return
			}
		}
	}
	w.keys[key] = true
	w.kv = append(w.kv, KV{Key: key, Value: v})
}

// SetString sets a string value.
func (w *Writer) SetString(key, s string) { w.add(key, Value{Type: TypeString, v: s}) }

// SetUint32 sets a u32 value.
func (w *Writer) SetUint32(key string, x uint32) { w.add(key, Value{Type: TypeUint32, v: uint64(x)}) }

// SetInt32 sets an i32 value.
func (w *Writer) SetInt32(key string, x int32) { w.add(key, Value{Type: TypeInt32, v: int64(x)}) }

// SetUint64 sets a u64 value.
func (w *Writer) SetUint64(key string, x uint64) { w.add(key, Value{Type: TypeUint64, v: x}) }

// SetFloat32 sets an f32 value.
func (w *Writer) SetFloat32(key string, x float32) {
	w.add(key, Value{Type: TypeFloat32, v: float64(x)})
}

// SetBool sets a bool value.
func (w *Writer) SetBool(key string, b bool) { w.add(key, Value{Type: TypeBool, v: b}) }

// SetStrings sets a string array.
func (w *Writer) SetStrings(key string, a []string) {
	w.add(key, Value{Type: TypeArray, ArrayType: TypeString, v: append([]string(nil), a...)})
}

// SetInt32s sets an i32 array.
func (w *Writer) SetInt32s(key string, a []int32) {
	x := make(rawArray, 4*len(a))
	for i, v := range a {
		binary.LittleEndian.PutUint32(x[4*i:], uint32(v))
	}
	w.add(key, Value{Type: TypeArray, ArrayType: TypeInt32, v: x})
}

// SetFloat32s sets an f32 array.
func (w *Writer) SetFloat32s(key string, a []float32) {
	x := make(rawArray, 4*len(a))
	for i, v := range a {
		binary.LittleEndian.PutUint32(x[4*i:], math.Float32bits(v))
	}
	w.add(key, Value{Type: TypeArray, ArrayType: TypeFloat32, v: x})
}

// SetValue copies a value read from another file.
func (w *Writer) SetValue(key string, v Value) { w.add(key, v) }

// AddTensor appends a tensor. dims are in ggml order (dims[0] = row length);
// data must hold exactly the bytes of that many elements of type t.
func (w *Writer) AddTensor(name string, t TensorType, dims []int64, data []byte) error {
	if w.names[name] {
		return fmt.Errorf("gguf: duplicate tensor %q", name)
	}
	if len(dims) == 0 || len(dims) > maxDims {
		return fmt.Errorf("gguf: tensor %q: %d dimensions", name, len(dims))
	}
	n := int64(1)
	for _, d := range dims {
		if d <= 0 {
			return fmt.Errorf("gguf: tensor %q: dimension %d", name, d)
		}
		n *= d
	}
	if dims[0]%t.BlockSize() != 0 {
		return fmt.Errorf("gguf: tensor %q: row of %d is not a multiple of the %s block size", name, dims[0], t)
	}
	size, err := t.RowSize(n)
	if err != nil {
		return fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	if int64(len(data)) != size {
		return fmt.Errorf("gguf: tensor %q: %d bytes of data, want %d for %v %s", name, len(data), size, dims, t)
	}
	w.names[name] = true
	w.tensors = append(w.tensors, wtensor{info: TensorInfo{Name: name, Dims: append([]int64(nil), dims...), Type: t, Size: size}, data: data})
	return nil
}

// AddFloat32 appends an F32 tensor.
func (w *Writer) AddFloat32(name string, dims []int64, data []float32) error {
	return w.AddTensor(name, F32, dims, Float32Bytes(data))
}

// AddFloat16 appends an F16 tensor converted from float32.
func (w *Writer) AddFloat16(name string, dims []int64, data []float32) error {
	b := make([]byte, 2*len(data))
	for i, x := range data {
		binary.LittleEndian.PutUint16(b[2*i:], F32ToF16(x))
	}
	return w.AddTensor(name, F16, dims, b)
}

// Float32Bytes encodes float32s little-endian.
func Float32Bytes(a []float32) []byte {
	b := make([]byte, 4*len(a))
	for i, x := range a {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

type cw struct {
	w   *bufio.Writer
	n   int64
	err error
}

func (c *cw) write(b []byte) {
	if c.err != nil {
		return
	}
	k, err := c.w.Write(b)
	c.n += int64(k)
	c.err = err
}

func (c *cw) u32(x uint32) { var b [4]byte; binary.LittleEndian.PutUint32(b[:], x); c.write(b[:]) }
func (c *cw) u64(x uint64) { var b [8]byte; binary.LittleEndian.PutUint64(b[:], x); c.write(b[:]) }
func (c *cw) str(s string) { c.u64(uint64(len(s))); c.write([]byte(s)) }
func (c *cw) pad(align int64) {
	if r := c.n % align; r != 0 {
		c.write(make([]byte, align-r))
	}
}

func (c *cw) scalar(t ValueType, v any) {
	switch t {
	case TypeUint8, TypeInt8:
		c.write([]byte{byte(toU64(v))})
	case TypeUint16, TypeInt16:
		var b [2]byte
		binary.LittleEndian.PutUint16(b[:], uint16(toU64(v)))
		c.write(b[:])
	case TypeUint32, TypeInt32:
		c.u32(uint32(toU64(v)))
	case TypeUint64, TypeInt64:
		c.u64(toU64(v))
	case TypeFloat32:
		c.u32(math.Float32bits(float32(v.(float64))))
	case TypeFloat64:
		c.u64(math.Float64bits(v.(float64)))
	case TypeBool:
		if v.(bool) {
			c.write([]byte{1})
		} else {
			c.write([]byte{0})
		}
	case TypeString:
		c.str(v.(string))
	}
}

func toU64(v any) uint64 {
	switch x := v.(type) {
	case int64:
		return uint64(x)
	case uint64:
		return x
	}
	return 0
}

func (c *cw) value(v Value) {
	if v.Type != TypeArray {
		c.scalar(v.Type, v.v)
		return
	}
	c.u32(uint32(v.ArrayType))
	c.u64(uint64(v.Len()))
	switch a := v.v.(type) {
	case []string:
		for _, s := range a {
			c.str(s)
		}
	case rawArray:
		c.write(a)
	case []Value:
		for _, x := range a {
			c.value(x)
		}
	}
}

// WriteTo writes the whole file.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	c := &cw{w: bufio.NewWriterSize(out, 1<<20)}
	kv := w.kv
	if w.Alignment != DefaultAlignment && !w.keys["general.alignment"] {
		kv = append(append([]KV(nil), kv...), KV{Key: "general.alignment", Value: Value{Type: TypeUint32, v: uint64(w.Alignment)}})
	}
	c.write([]byte(Magic))
	c.u32(3)
	c.u64(uint64(len(w.tensors)))
	c.u64(uint64(len(kv)))
	for _, e := range kv {
		c.str(e.Key)
		c.u32(uint32(e.Value.Type))
		c.value(e.Value)
	}
	off := int64(0)
	for i := range w.tensors {
		t := &w.tensors[i].info
		t.Offset = off
		c.str(t.Name)
		c.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			c.u64(uint64(d))
		}
		c.u32(uint32(t.Type))
		c.u64(uint64(t.Offset))
		off += (t.Size + w.Alignment - 1) / w.Alignment * w.Alignment
	}
	c.pad(w.Alignment)
	for i := range w.tensors {
		c.write(w.tensors[i].data)
		c.pad(w.Alignment)
	}
	if c.err == nil {
		c.err = c.w.Flush()
	}
	return c.n, c.err
}

// WriteFile writes the file atomically: a temporary file in the same
// directory, fsync, rename.
func (w *Writer) WriteFile(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := w.WriteTo(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	// os.CreateTemp makes the file 0600; a model file is meant to be read
	// by other users and services, like any file os.Create would make.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
