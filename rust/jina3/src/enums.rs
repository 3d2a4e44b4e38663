//! The C API's enumerations as Rust enums: `Task`, `Precision`, `Priority`, `Device`, `DType`.
//! Values are those of jina3.h; names come from the library's own name functions.
use std::fmt;
use std::str::FromStr;

use jina3_sys as sys;

use crate::error::{c_string, call, static_str, Error, Result};

macro_rules! c_enum {
    ($(#[$doc:meta])* $name:ident : $raw:ty { $($(#[$vdoc:meta])* $variant:ident = $value:path,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Every value, in the header's order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The C value.
            pub fn raw(self) -> $raw {
                match self { $($name::$variant => $value,)* }
            }

            /// The variant of a C value; None for a value the header does not define.
            pub fn from_raw(raw: $raw) -> Option<$name> {
                match raw { $($value => Some($name::$variant),)* _ => None }
            }

            /// The variant of a value the library returned (always one the header defines).
            #[allow(dead_code)] // Precision: the library returns none
            fn from_library(raw: $raw) -> Result<$name> {
                $name::from_raw(raw).ok_or_else(|| Error::Internal(format!("the library returned the unknown value {}", raw)))
            }
        }
    };
}

/// Names through the library: `name()` and `Display`, and with a `*_from_name` function `FromStr`
/// (which gives the library's message, listing the valid names, for an unknown one).
macro_rules! c_names {
    ($name:ident, $to_name:path) => {
        impl $name {
            /// The canonical name, e.g. "retrieval.query" or "cpu".
            pub fn name(self) -> &'static str {
                // SAFETY: the name functions take any value and return static strings.
                static_str(unsafe { $to_name(self.raw()) })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
    ($name:ident, $raw:ty, $to_name:path, $from_name:path) => {
        c_names!($name, $to_name);

        impl FromStr for $name {
            type Err = Error;
            fn from_str(name: &str) -> Result<$name> {
                let c_name = c_string("name", name)?;
                let mut raw: $raw = 0;
                // SAFETY: a NUL-terminated name and a valid out-pointer.
                call(|error| unsafe { $from_name(c_name.as_ptr(), &mut raw, error) })?;
                $name::from_library(raw)
            }
        }
    };
}

c_enum! {
    /// A task adapter of jina-embeddings-v3 (`jina3_task`): its LoRA weights and instruction prompt.
    Task: sys::jina3_task {
        /// No adapter and no prompt ("none").
        None = sys::JINA3_TASK_NONE,
        /// "retrieval.query"
        RetrievalQuery = sys::JINA3_TASK_RETRIEVAL_QUERY,
        /// "retrieval.passage"
        RetrievalPassage = sys::JINA3_TASK_RETRIEVAL_PASSAGE,
        /// "separation"
        Separation = sys::JINA3_TASK_SEPARATION,
        /// "classification"
        Classification = sys::JINA3_TASK_CLASSIFICATION,
        /// "text-matching"
        TextMatching = sys::JINA3_TASK_TEXT_MATCHING,
    }
}
c_names!(Task, sys::jina3_task, sys::jina3_task_name, sys::jina3_task_from_name);

c_enum! {
    /// A call's lane in the encoder's scheduler (`jina3_priority`).
    Priority: sys::jina3_priority {
        /// Served first (the default).
        Interactive = sys::JINA3_PRIORITY_INTERACTIVE,
        /// Keeps at least `bulk_share` of each step while both lanes have work; never starves.
        Bulk = sys::JINA3_PRIORITY_BULK,
    }
}
c_names!(Priority, sys::jina3_priority, sys::jina3_priority_name, sys::jina3_priority_from_name);

c_enum! {
    /// Where an encoder runs (`jina3_device`).
    Device: sys::jina3_device {
        /// "cpu"
        Cpu = sys::JINA3_DEVICE_CPU,
        /// "cuda"
        Cuda = sys::JINA3_DEVICE_CUDA,
    }
}

c_names!(Device, sys::jina3_device_name);

impl Device {
    /// Parses "cpu", "cuda" or "cuda:N" into the device and its index.
    pub fn parse(name: &str) -> Result<(Device, i32)> {
        let c_name = c_string("name", name)?;
        let (mut raw, mut index) = (0, 0);
        call(|error| unsafe { sys::jina3_device_from_name(c_name.as_ptr(), &mut raw, &mut index, error) })?;
        Ok((Device::from_library(raw)?, index))
    }
}

c_enum! {
    /// Numeric type of the backbone's weights and activations (`jina3_dtype`). Embeddings are float32.
    DType: sys::jina3_dtype {
        /// As stored in the package.
        Auto = sys::JINA3_DTYPE_AUTO,
        Float32 = sys::JINA3_DTYPE_FLOAT32,
        BFloat16 = sys::JINA3_DTYPE_BFLOAT16,
        Float16 = sys::JINA3_DTYPE_FLOAT16,
        /// Dynamic int8 linear layers (CPU; chosen at export time).
        Int8 = sys::JINA3_DTYPE_INT8,
    }
}
c_names!(DType, sys::jina3_dtype, sys::jina3_dtype_name, sys::jina3_dtype_from_name);

c_enum! {
    /// Element type of an output row (`jina3_precision`). int8/uint8 quantise each dimension over
    /// [min, max] in 256 steps; binary/ubinary pack the bits x > 0, 8 dims per byte, dim 0 the
    /// most significant bit (binary is ubinary - 128 as int8).
    Precision: sys::jina3_precision {
        /// dims f32
        Float32 = sys::JINA3_PRECISION_FLOAT32,
        /// dims IEEE half floats (u16 bits)
        Float16 = sys::JINA3_PRECISION_FLOAT16,
        /// dims i8
        Int8 = sys::JINA3_PRECISION_INT8,
        /// dims u8
        Uint8 = sys::JINA3_PRECISION_UINT8,
        /// dims / 8 i8
        Binary = sys::JINA3_PRECISION_BINARY,
        /// dims / 8 u8
        Ubinary = sys::JINA3_PRECISION_UBINARY,
    }
}

impl Precision {
    /// Bytes of one row of `dims` dimensions (`jina3_precision_row_bytes`).
    pub fn row_bytes(self, dims: usize) -> usize {
        unsafe { sys::jina3_precision_row_bytes(self.raw(), crate::c_dims(dims)) }
    }
}
