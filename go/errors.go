package jina3

/*
#cgo pkg-config: jina3
#include <jina3/jina3.h>
*/
import "C"

import "errors"

// Status is a jina3_status other than JINA3_OK. Each value is also a sentinel error to test for
// with errors.Is:
//
//	if errors.Is(err, jina3.ErrModelNotFound) { ... }
//
// The errors this package returns are *Error values (use errors.As to read the message) that
// unwrap to their Status.
type Status int

// The statuses of jina3.h, with the same values.
const (
	ErrInvalidArgument  Status = C.JINA3_ERR_INVALID_ARGUMENT  // NULL or bad argument, unknown task, dims not offered, invalid UTF-8, bad option
	ErrInputTooLong     Status = C.JINA3_ERR_INPUT_TOO_LONG    // a text is over the token limit and truncation is off
	ErrModelNotFound    Status = C.JINA3_ERR_MODEL_NOT_FOUND   // the package directory or one of its files is missing
	ErrModelInvalid     Status = C.JINA3_ERR_MODEL_INVALID     // corrupt file, checksum mismatch, bad manifest, bad tensor
	ErrVersionMismatch  Status = C.JINA3_ERR_VERSION_MISMATCH  // package format or torch version newer than the library
	ErrDevice           Status = C.JINA3_ERR_DEVICE            // device unavailable, or dtype unsupported there
	ErrBufferTooSmall   Status = C.JINA3_ERR_BUFFER_TOO_SMALL  // an output buffer is too small (this package sizes its own)
	ErrOutOfMemory      Status = C.JINA3_ERR_OUT_OF_MEMORY     // an allocation failed
	ErrInternal         Status = C.JINA3_ERR_INTERNAL          // a bug in jina3 or its dependencies
	ErrQueueFull        Status = C.JINA3_ERR_QUEUE_FULL        // the request queue is full and FailWhenFull is set
	ErrDeadlineExceeded Status = C.JINA3_ERR_DEADLINE_EXCEEDED // the request had not started when its deadline passed
	ErrCancelled        Status = C.JINA3_ERR_CANCELLED         // the request was cancelled, or its encoder closed before it ran
)

// Name is the status's canonical name, e.g. "invalid_argument" (jina3_status_name).
func (s Status) Name() string { return C.GoString(C.jina3_status_name(C.jina3_status(s))) }

func (s Status) Error() string { return "jina3: " + s.Name() }

// Error is a failed call: its Status and the library's message, which names the argument, text
// or file at fault.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string { return "jina3: " + e.Message + " (" + e.Status.Name() + ")" }

// Unwrap gives the Status, so that errors.Is(err, jina3.ErrInvalidArgument) works.
func (e *Error) Unwrap() error { return e.Status }

// ErrClosed is returned by calls on an Encoder after Close.
var ErrClosed = errors.New("jina3: the encoder is closed")

// check turns a status and its error object (taken over and freed here) into an error.
// Messages come through the jina3_error** out-parameter: cgo may run two C calls of one
// goroutine on different OS threads, so the thread-local jina3_last_error would be unreliable.
func check(status C.jina3_status, cerr *C.jina3_error) error {
	if status == C.JINA3_OK {
		return nil
	}
	defer C.jina3_error_free(cerr)
	return &Error{Status: Status(status), Message: C.GoString(C.jina3_error_message(cerr))}
}

// invalid is an ErrInvalidArgument for what the C API cannot see (Go slice lengths).
func invalid(message string) error { return &Error{Status: ErrInvalidArgument, Message: message} }
