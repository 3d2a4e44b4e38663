package jina3

/*
#cgo pkg-config: jina3
#include <stdlib.h>
#include <jina3/jina3.h>
*/
import "C"

import "unsafe"

// Task is a task adapter of jina-embeddings-v3 (jina3_task): its LoRA weights and prompt.
type Task int

// The tasks of jina3.h, with the same values.
const (
	TaskNone         Task = C.JINA3_TASK_NONE              // no adapter, no prompt ("none")
	RetrievalQuery   Task = C.JINA3_TASK_RETRIEVAL_QUERY   // "retrieval.query"
	RetrievalPassage Task = C.JINA3_TASK_RETRIEVAL_PASSAGE // "retrieval.passage"
	Separation       Task = C.JINA3_TASK_SEPARATION        // "separation"
	Classification   Task = C.JINA3_TASK_CLASSIFICATION    // "classification"
	TextMatching     Task = C.JINA3_TASK_TEXT_MATCHING     // "text-matching"
)

// String is the canonical name, e.g. "retrieval.query" ("unknown" for a value that is no task).
func (t Task) String() string { return C.GoString(C.jina3_task_name(C.jina3_task(t))) }

// ParseTask looks a task up by canonical name ("" and "none" give TaskNone).
func ParseTask(name string) (Task, error) {
	return parseName[Task](name, func(cname *C.char, task *C.jina3_task, cerr **C.jina3_error) C.jina3_status {
		return C.jina3_task_from_name(cname, task, cerr)
	})
}

// parseName looks name up through one of jina3.h's *_from_name functions, which fromName calls
// with the name as a C string, the out-pointer for the value and the one for the error.
func parseName[T ~int, V ~int32 | ~uint32](name string, fromName func(*C.char, *V, **C.jina3_error) C.jina3_status) (T, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var value V
	var cerr *C.jina3_error
	if err := check(fromName(cname, &value, &cerr), cerr); err != nil {
		return 0, err
	}
	return T(value), nil
}

// Priority is a call's lane in the encoder's scheduler (jina3_priority).
type Priority int

const (
	Interactive Priority = C.JINA3_PRIORITY_INTERACTIVE // served first (the zero value, the default)
	Bulk        Priority = C.JINA3_PRIORITY_BULK        // keeps at least the bulk share of each step; never starves
)

// String is "interactive" or "bulk" ("" for another value).
func (p Priority) String() string {
	name := C.jina3_priority_name(C.jina3_priority(p))
	if name == nil {
		return ""
	}
	return C.GoString(name)
}

// ParsePriority parses "interactive" or "bulk".
func ParsePriority(name string) (Priority, error) {
	return parseName[Priority](name, func(cname *C.char, priority *C.jina3_priority, cerr **C.jina3_error) C.jina3_status {
		return C.jina3_priority_from_name(cname, priority, cerr)
	})
}

// Device is where an encoder runs (jina3_device).
type Device int

const (
	CPU  Device = C.JINA3_DEVICE_CPU  // "cpu"
	CUDA Device = C.JINA3_DEVICE_CUDA // "cuda"
)

func (d Device) String() string { return C.GoString(C.jina3_device_name(C.jina3_device(d))) }

// ParseDevice parses "cpu", "cuda" or "cuda:N" into the device and its index.
func ParseDevice(name string) (Device, int, error) {
	var index C.int
	device, err := parseName[Device](name, func(cname *C.char, device *C.jina3_device, cerr **C.jina3_error) C.jina3_status {
		return C.jina3_device_from_name(cname, device, &index, cerr)
	})
	if err != nil {
		return 0, 0, err
	}
	return device, int(index), nil
}

// DType is the numeric type of the backbone (jina3_dtype); embeddings are always float32.
type DType int

const (
	DTypeAuto     DType = C.JINA3_DTYPE_AUTO     // as stored in the package
	DTypeFloat32  DType = C.JINA3_DTYPE_FLOAT32  // "float32"
	DTypeBFloat16 DType = C.JINA3_DTYPE_BFLOAT16 // "bfloat16"
	DTypeFloat16  DType = C.JINA3_DTYPE_FLOAT16  // "float16"
	DTypeInt8     DType = C.JINA3_DTYPE_INT8     // "int8": dynamic int8 linear layers (CPU)
)

func (d DType) String() string { return C.GoString(C.jina3_dtype_name(C.jina3_dtype(d))) }

// ParseDType parses a dtype name.
func ParseDType(name string) (DType, error) {
	return parseName[DType](name, func(cname *C.char, dtype *C.jina3_dtype, cerr **C.jina3_error) C.jina3_status {
		return C.jina3_dtype_from_name(cname, dtype, cerr)
	})
}

// Precision is the element type of output rows (jina3_precision). Int8/Uint8 quantise each
// dimension over [min, max] in 256 steps; Binary/Ubinary pack the bits x > 0, 8 dims per byte,
// dim 0 the most significant bit (Binary is Ubinary - 128 as int8).
type Precision int

const (
	Float32 Precision = C.JINA3_PRECISION_FLOAT32 // dims float32
	Float16 Precision = C.JINA3_PRECISION_FLOAT16 // dims IEEE half floats (uint16 bits)
	Int8    Precision = C.JINA3_PRECISION_INT8    // dims int8
	Uint8   Precision = C.JINA3_PRECISION_UINT8   // dims uint8
	Binary  Precision = C.JINA3_PRECISION_BINARY  // dims/8 int8
	Ubinary Precision = C.JINA3_PRECISION_UBINARY // dims/8 uint8
)

// Precisions lists every precision.
var Precisions = []Precision{Float32, Float16, Int8, Uint8, Binary, Ubinary}

// RowBytes is the size of one row of dims dimensions (jina3_precision_row_bytes).
func (p Precision) RowBytes(dims int) int {
	return int(C.jina3_precision_row_bytes(C.jina3_precision(p), cInt(dims)))
}

// Version is the library's version, "major.minor.patch".
func Version() string { return C.GoString(C.jina3_version()) }

// ABIVersion is the C ABI version the library was built with.
func ABIVersion() int { return int(C.jina3_abi_version()) }

// cInt passes an int on to C; a value beyond C's int is no valid size either, and the library
// says so.
func cInt(v int) C.int {
	const max = int(^uint32(0) >> 1)
	if v > max {
		return C.int(max)
	}
	if v < -max {
		return C.int(-max)
	}
	return C.int(v)
}
