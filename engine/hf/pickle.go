package hf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// A minimal, safe reader for the pickles torch.save writes for a state
// dict (protocol 2; the few protocol 3–5 opcodes newer writers may use are
// accepted too). It builds plain Go values and never calls anything: the
// only globals it accepts are collections.OrderedDict, torch's tensor
// rebuild functions and the torch.*Storage classes, and REDUCE is
// interpreted for those alone. Anything else is refused with the opcode or
// the global's name, so a malicious pickle cannot run code.

// Go values of the pickle objects.
type (
	pyTuple  []any
	pyList   struct{ items []any }
	pyGlobal struct{ module, name string }
	pyDict   struct {
		keys []any
		m    map[any]any
	}
)

func newDict() *pyDict { return &pyDict{m: map[any]any{}} }

func (d *pyDict) set(k, v any) error {
	switch k.(type) {
	case string, int64, bool, nil, float64:
	default:
		return fmt.Errorf("dict key of type %T is not supported", k)
	}
	if _, ok := d.m[k]; !ok {
		d.keys = append(d.keys, k)
	}
	d.m[k] = v
	return nil
}

// storageRef is a persistent id ('storage', torch.XStorage, key, location,
// numel): one file archive/data/<key> of the zip.
type storageRef struct {
	dtype string // safetensors spelling: F32, F16, BF16, F64, I64, ...
	key   string
	numel int64
}

// torchTensor is what torch._utils._rebuild_tensor_v2 would build.
type torchTensor struct {
	storage *storageRef
	offset  int64 // in elements
	size    []int
	stride  []int
}

// storageDTypes maps torch's legacy storage classes to dtype names.
var storageDTypes = map[string]string{
	"FloatStorage":    "F32",
	"HalfStorage":     "F16",
	"BFloat16Storage": "BF16",
	"DoubleStorage":   "F64",
	"LongStorage":     "I64",
	"IntStorage":      "I32",
	"ShortStorage":    "I16",
	"CharStorage":     "I8",
	"ByteStorage":     "U8",
	"BoolStorage":     "BOOL",
}

// allowedGlobal reports whether the global module.name may appear.
func allowedGlobal(module, name string) bool {
	switch module + "." + name {
	case "collections.OrderedDict",
		"torch._utils._rebuild_tensor_v2",
		"torch._utils._rebuild_parameter":
		return true
	}
	if module == "torch" {
		_, ok := storageDTypes[name]
		return ok
	}
	return false
}

// pickle opcodes used here.
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opBinFloat       = 'G'
	opInt            = 'I'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opLong           = 'L'
	opBinInt2        = 'M'
	opNone           = 'N'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opBinString      = 'T'
	opShortBinString = 'U'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opAppends        = 'e'
	opBinGet         = 'h'
	opLongBinGet     = 'j'
	opEmptyList      = ']'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opSetItems       = 'u'
	opEmptyDict      = '}'
	opEmptyTuple     = ')'
	opProto          = 0x80
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opLong1          = 0x8a
	opBinBytes       = 'B'
	opShortBinBytes  = 'C'
	opShortBinUni    = 0x8c
	opBinUnicode8    = 0x8d
	opStackGlobal    = 0x93
	opMemoize        = 0x94
	opFrame          = 0x95
)

// markObj is the MARK sentinel on the stack.
type markObj struct{}

// Limits against hostile input.
const (
	maxPickleStack = 1 << 20
	maxPickleMemo  = 1 << 22
)

type unpickler struct {
	data  []byte
	pos   int
	stack []any
	memo  map[uint32]any
	// marks holds stack depths of MARKs.
	marks []int
}

// unpickle reads a torch.save state-dict pickle. persistent ids must be
// storage tuples.
func unpickle(data []byte) (any, error) {
	u := &unpickler{data: data, memo: map[uint32]any{}}
	v, err := u.run()
	if err != nil {
		return nil, fmt.Errorf("pickle offset %d: %w", u.pos, err)
	}
	return v, nil
}

func (u *unpickler) need(n int) ([]byte, error) {
	if n < 0 || u.pos+n > len(u.data) || u.pos+n < u.pos {
		return nil, errors.New("truncated pickle")
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

func (u *unpickler) line() (string, error) {
	i := strings.IndexByte(string(u.data[u.pos:min(len(u.data), u.pos+4096)]), '\n')
	if i < 0 {
		return "", errors.New("unterminated text line")
	}
	s := string(u.data[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

func (u *unpickler) push(v any) error {
	if len(u.stack) >= maxPickleStack {
		return errors.New("pickle stack too deep")
	}
	u.stack = append(u.stack, v)
	return nil
}

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) <= u.marks[len(u.marks)-1]) {
		return nil, errors.New("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 {
		return nil, errors.New("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark returns the items above the last MARK and removes them and it.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, errors.New("no MARK on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) memoPut(i uint32) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	if len(u.memo) >= maxPickleMemo {
		return errors.New("pickle memo too large")
	}
	u.memo[i] = v
	return nil
}

func (u *unpickler) memoGet(i uint32) error {
	v, ok := u.memo[i]
	if !ok {
		return fmt.Errorf("memo entry %d is not defined", i)
	}
	return u.push(v)
}

func (u *unpickler) run() (any, error) {
	for {
		b, err := u.need(1)
		if err != nil {
			return nil, err
		}
		op := b[0]
		switch op {
		case opProto:
			p, err := u.need(1)
			if err != nil {
				return nil, err
			}
			if p[0] > 5 {
				return nil, fmt.Errorf("pickle protocol %d is not supported", p[0])
			}
		case opFrame:
			if _, err := u.need(8); err != nil {
				return nil, err
			}
		case opStop:
			v, err := u.pop()
			if err != nil {
				return nil, err
			}
			return v, nil
		case opMark:
			u.marks = append(u.marks, len(u.stack))
		case opPop:
			if _, err := u.pop(); err != nil {
				return nil, err
			}
		case opPopMark:
			if _, err := u.popMark(); err != nil {
				return nil, err
			}
		case opDup:
			var v any
			if v, err = u.top(); err == nil {
				err = u.push(v)
			}
		case opNone:
			err = u.push(nil)
		case opNewTrue:
			err = u.push(true)
		case opNewFalse:
			err = u.push(false)
		case opBinInt:
			var x []byte
			if x, err = u.need(4); err == nil {
				err = u.push(int64(int32(binary.LittleEndian.Uint32(x))))
			}
		case opBinInt1:
			var x []byte
			if x, err = u.need(1); err == nil {
				err = u.push(int64(x[0]))
			}
		case opBinInt2:
			var x []byte
			if x, err = u.need(2); err == nil {
				err = u.push(int64(binary.LittleEndian.Uint16(x)))
			}
		case opLong1:
			var n, x []byte
			if n, err = u.need(1); err == nil {
				if x, err = u.need(int(n[0])); err == nil {
					var v int64
					if v, err = decodeLong(x); err == nil {
						err = u.push(v)
					}
				}
			}
		case opInt, opLong:
			var s string
			if s, err = u.line(); err == nil {
				s = strings.TrimSuffix(s, "L")
				switch s {
				case "00":
					err = u.push(false)
				case "01":
					err = u.push(true)
				default:
					var v int64
					if v, err = strconv.ParseInt(s, 10, 64); err == nil {
						err = u.push(v)
					}
				}
			}
		case opBinFloat:
			var x []byte
			if x, err = u.need(8); err == nil {
				err = u.push(math.Float64frombits(binary.BigEndian.Uint64(x)))
			}
		case opBinUnicode, opBinString, opBinBytes:
			var n, x []byte
			if n, err = u.need(4); err == nil {
				if x, err = u.need(int(binary.LittleEndian.Uint32(n))); err == nil {
					err = u.push(string(x))
				}
			}
		case opShortBinUni, opShortBinString, opShortBinBytes:
			var n, x []byte
			if n, err = u.need(1); err == nil {
				if x, err = u.need(int(n[0])); err == nil {
					err = u.push(string(x))
				}
			}
		case opBinUnicode8:
			var n, x []byte
			if n, err = u.need(8); err == nil {
				l := binary.LittleEndian.Uint64(n)
				if l > uint64(len(u.data)) {
					return nil, errors.New("truncated pickle")
				}
				if x, err = u.need(int(l)); err == nil {
					err = u.push(string(x))
				}
			}
		case opEmptyTuple:
			err = u.push(pyTuple{})
		case opTuple:
			var items []any
			if items, err = u.popMark(); err == nil {
				err = u.push(pyTuple(items))
			}
		case opTuple1, opTuple2, opTuple3:
			n := int(op-opTuple1) + 1
			t := make(pyTuple, n)
			for i := n - 1; i >= 0 && err == nil; i-- {
				t[i], err = u.pop()
			}
			if err == nil {
				err = u.push(t)
			}
		case opEmptyList:
			err = u.push(&pyList{})
		case opEmptyDict:
			err = u.push(newDict())
		case opAppend:
			var v, l any
			if v, err = u.pop(); err == nil {
				if l, err = u.top(); err == nil {
					lst, ok := l.(*pyList)
					if !ok {
						return nil, fmt.Errorf("APPEND to a %T", l)
					}
					lst.items = append(lst.items, v)
				}
			}
		case opAppends:
			var items []any
			var l any
			if items, err = u.popMark(); err == nil {
				if l, err = u.top(); err == nil {
					lst, ok := l.(*pyList)
					if !ok {
						return nil, fmt.Errorf("APPENDS to a %T", l)
					}
					lst.items = append(lst.items, items...)
				}
			}
		case opSetItem:
			var k, v, d any
			if v, err = u.pop(); err == nil {
				if k, err = u.pop(); err == nil {
					if d, err = u.top(); err == nil {
						dict, ok := d.(*pyDict)
						if !ok {
							return nil, fmt.Errorf("SETITEM on a %T", d)
						}
						err = dict.set(k, v)
					}
				}
			}
		case opSetItems:
			var items []any
			var d any
			if items, err = u.popMark(); err == nil {
				if d, err = u.top(); err == nil {
					dict, ok := d.(*pyDict)
					if !ok {
						return nil, fmt.Errorf("SETITEMS on a %T", d)
					}
					if len(items)%2 != 0 {
						return nil, errors.New("SETITEMS with an odd number of items")
					}
					for i := 0; i < len(items) && err == nil; i += 2 {
						err = dict.set(items[i], items[i+1])
					}
				}
			}
		case opBinPut:
			var x []byte
			if x, err = u.need(1); err == nil {
				err = u.memoPut(uint32(x[0]))
			}
		case opLongBinPut:
			var x []byte
			if x, err = u.need(4); err == nil {
				err = u.memoPut(binary.LittleEndian.Uint32(x))
			}
		case opMemoize:
			err = u.memoPut(uint32(len(u.memo)))
		case opBinGet:
			var x []byte
			if x, err = u.need(1); err == nil {
				err = u.memoGet(uint32(x[0]))
			}
		case opLongBinGet:
			var x []byte
			if x, err = u.need(4); err == nil {
				err = u.memoGet(binary.LittleEndian.Uint32(x))
			}
		case opGlobal:
			var mod, name string
			if mod, err = u.line(); err == nil {
				if name, err = u.line(); err == nil {
					err = u.global(mod, name)
				}
			}
		case opStackGlobal:
			var m, n any
			if n, err = u.pop(); err == nil {
				if m, err = u.pop(); err == nil {
					mod, ok1 := m.(string)
					name, ok2 := n.(string)
					if !ok1 || !ok2 {
						return nil, errors.New("STACK_GLOBAL with non-string names")
					}
					err = u.global(mod, name)
				}
			}
		case opBinPersID:
			var pid any
			if pid, err = u.pop(); err == nil {
				var s *storageRef
				if s, err = persistentStorage(pid); err == nil {
					err = u.push(s)
				}
			}
		case opReduce:
			var args, fn any
			if args, err = u.pop(); err == nil {
				if fn, err = u.pop(); err == nil {
					var v any
					if v, err = reduce(fn, args); err == nil {
						err = u.push(v)
					}
				}
			}
		case opBuild:
			// OrderedDict's instance state (state_dict's _metadata
			// attribute) is set with BUILD; it carries no weights.
			var obj any
			if _, err = u.pop(); err == nil {
				if obj, err = u.top(); err == nil {
					if _, ok := obj.(*pyDict); !ok {
						return nil, fmt.Errorf("BUILD on a %T is not supported", obj)
					}
				}
			}
		default:
			return nil, fmt.Errorf("opcode 0x%02x is not supported: this is not a plain torch.save state dict", op)
		}
		if err != nil {
			return nil, err
		}
	}
}

func (u *unpickler) global(mod, name string) error {
	if !allowedGlobal(mod, name) {
		return fmt.Errorf("global %s.%s is not allowed: a state dict holds only tensors (refusing to load it)", mod, name)
	}
	return u.push(pyGlobal{mod, name})
}

// decodeLong reads a little-endian two's complement integer of up to 8 bytes.
func decodeLong(b []byte) (int64, error) {
	if len(b) > 8 {
		return 0, fmt.Errorf("integer of %d bytes is too large", len(b))
	}
	if len(b) == 0 {
		return 0, nil
	}
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	if shift := uint(64 - 8*len(b)); shift > 0 {
		return int64(v<<shift) >> shift, nil
	}
	return int64(v), nil
}

func persistentStorage(pid any) (*storageRef, error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) != 5 {
		return nil, fmt.Errorf("persistent id %v is not ('storage', type, key, location, numel)", pid)
	}
	if s, _ := t[0].(string); s != "storage" {
		return nil, fmt.Errorf("persistent id of kind %v is not a storage", t[0])
	}
	g, ok := t[1].(pyGlobal)
	if !ok || g.module != "torch" {
		return nil, fmt.Errorf("storage type %v is not a torch storage class", t[1])
	}
	dt, ok := storageDTypes[g.name]
	if !ok {
		return nil, fmt.Errorf("storage type torch.%s is not supported", g.name)
	}
	key, ok := t[2].(string)
	if !ok || key == "" || strings.ContainsAny(key, "/\\") || key == "." || key == ".." {
		return nil, fmt.Errorf("storage key %v is not a plain name", t[2])
	}
	n, ok := t[4].(int64)
	if !ok || n < 0 {
		return nil, fmt.Errorf("storage size %v is not a non-negative integer", t[4])
	}
	return &storageRef{dtype: dt, key: key, numel: n}, nil
}

func intTuple(v any, what string) ([]int, error) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("%s is %T, not a tuple", what, v)
	}
	out := make([]int, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok || n < 0 || n > math.MaxInt32 {
			return nil, fmt.Errorf("%s[%d] is %v, not a size", what, i, x)
		}
		out[i] = int(n)
	}
	return out, nil
}

// reduce applies one of the allowed callables.
func reduce(fn, args any) (any, error) {
	g, ok := fn.(pyGlobal)
	if !ok {
		return nil, fmt.Errorf("REDUCE calls a %T", fn)
	}
	a, ok := args.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("REDUCE of %s.%s with %T arguments", g.module, g.name, args)
	}
	switch g.module + "." + g.name {
	case "collections.OrderedDict":
		d := newDict()
		if len(a) == 0 {
			return d, nil
		}
		if len(a) == 1 {
			if l, ok := a[0].(*pyList); ok {
				for _, it := range l.items {
					kv, ok := it.(pyTuple)
					if !ok || len(kv) != 2 {
						return nil, errors.New("OrderedDict item is not a pair")
					}
					if err := d.set(kv[0], kv[1]); err != nil {
						return nil, err
					}
				}
				return d, nil
			}
		}
		return nil, errors.New("OrderedDict with unexpected arguments")
	case "torch._utils._rebuild_tensor_v2":
		// (storage, storage_offset, size, stride, requires_grad,
		// backward_hooks[, metadata])
		if len(a) < 6 || len(a) > 7 {
			return nil, fmt.Errorf("_rebuild_tensor_v2 with %d arguments", len(a))
		}
		st, ok := a[0].(*storageRef)
		if !ok {
			return nil, fmt.Errorf("_rebuild_tensor_v2 storage is %T", a[0])
		}
		off, ok := a[1].(int64)
		if !ok || off < 0 {
			return nil, fmt.Errorf("_rebuild_tensor_v2 storage offset is %v", a[1])
		}
		size, err := intTuple(a[2], "tensor size")
		if err != nil {
			return nil, err
		}
		stride, err := intTuple(a[3], "tensor stride")
		if err != nil {
			return nil, err
		}
		if len(size) != len(stride) {
			return nil, fmt.Errorf("tensor size %v and stride %v differ in rank", size, stride)
		}
		return &torchTensor{storage: st, offset: off, size: size, stride: stride}, nil
	case "torch._utils._rebuild_parameter":
		// (data, requires_grad, backward_hooks)
		if len(a) != 3 {
			return nil, fmt.Errorf("_rebuild_parameter with %d arguments", len(a))
		}
		t, ok := a[0].(*torchTensor)
		if !ok {
			return nil, fmt.Errorf("_rebuild_parameter data is %T", a[0])
		}
		return t, nil
	}
	return nil, fmt.Errorf("calling %s.%s is not supported", g.module, g.name)
}
