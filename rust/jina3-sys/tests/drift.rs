//! Catches drift between `include/jina3/jina3.h` and `src/lib.rs`:
//!
//! 1. declarations: every function of the header is declared in lib.rs with the same argument
//!    names and types and return type, and lib.rs declares nothing the header lacks; the same for
//!    struct fields, enum constants and integer macros (both files are parsed here);
//! 2. layout: a C program compiled against the header prints sizeof, alignment and every field's
//!    offsetof of each struct and the size of each enum; each must equal Rust's;
//! 3. symbols: every function of the header is exported by the libjina3 that this crate links.
//!
//! The header is `$JINA3_INCLUDE_DIR/jina3/jina3.h`, else `../../include/jina3/jina3.h` from this
//! crate (the source tree). The C compiler is `$CC`, else `cc`.
use std::collections::BTreeMap;
use std::env;
use std::ffi::{CStr, CString};
use std::fs;
use std::mem::{align_of, size_of, MaybeUninit};
use std::os::raw::{c_char, c_int, c_void};
use std::path::PathBuf;
use std::process::Command;

use jina3_sys::*;

const RUST_SOURCE: &str = include_str!("../src/lib.rs");

fn include_dir() -> PathBuf {
    match env::var("JINA3_INCLUDE_DIR") {
        Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../include"),
    }
}

fn header_text() -> String {
    let path = include_dir().join("jina3/jina3.h");
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {}", path.display(), e))
}

// ---------------------------------------------------------------------------------------------
// A small lexer shared by both languages.
// ---------------------------------------------------------------------------------------------

fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        if in_string {
            if bytes[i] == b'"' {
                in_string = false;
            }
            out.push(bytes[i] as char);
            i += 1;
        } else if bytes[i] == b'"' {
            in_string = true;
            out.push('"');
            i += 1;
        } else if text[i..].starts_with("/*") {
            let end = text[i + 2..].find("*/").expect("unterminated comment") + i + 4;
            out.push(' ');
            i = end;
        } else if text[i..].starts_with("//") {
            i = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
        } else {
            // The sources are ASCII outside comments.
            out.push(bytes[i] as char);
            i += 1;
        }
    }
    out
}

fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() || c == '_' || c == '"' {
            word.push(c);
        } else {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Splits at top-level commas (outside (), <>, []).
fn split_top(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '(' | '<' | '[' => depth += 1,
            ')' | '>' | ']' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    if !current.trim().is_empty() {
        parts.push(current);
    }
    parts.into_iter().map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect()
}

/// The text between the parenthesis at `open` and its match.
fn balanced(text: &str, open: usize, left: char, right: char) -> (String, usize) {
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        if c == left {
            depth += 1;
        } else if c == right {
            depth -= 1;
            if depth == 0 {
                return (text[open + 1..open + i].to_string(), open + i);
            }
        }
    }
    panic!("unbalanced {} at {}", left, open);
}

// ---------------------------------------------------------------------------------------------
// Canonical types: Rust spelling with C's base names, e.g. `*const *const char`, `[uint64_t; N]`.
// ---------------------------------------------------------------------------------------------

/// A C declaration without its name (`const char* const*`) in the canonical spelling.
fn c_type(decl_tokens: &[String]) -> String {
    let mut pointee_const = false;
    let mut base = String::new();
    let mut i = 0;
    while i < decl_tokens.len() && decl_tokens[i] != "*" {
        if decl_tokens[i] == "const" {
            pointee_const = true;
        } else {
            assert!(base.is_empty(), "two base types in {:?}", decl_tokens);
            base = decl_tokens[i].clone();
        }
        i += 1;
    }
    let mut canonical = base;
    while i < decl_tokens.len() {
        assert_eq!(decl_tokens[i], "*", "unexpected token in {:?}", decl_tokens);
        canonical = format!("{} {}", if pointee_const { "*const" } else { "*mut" }, canonical);
        i += 1;
        pointee_const = i < decl_tokens.len() && decl_tokens[i] == "const";
        if pointee_const {
            i += 1;
        }
    }
    canonical
}

/// A C parameter or field, `const char* name` or `uint64_t name[N]`: (name, canonical type).
fn c_declaration(text: &str) -> (String, String) {
    let mut toks = tokens(text);
    let mut array = None;
    if toks.last().map(String::as_str) == Some("]") {
        let open = toks.iter().rposition(|t| t == "[").expect("array without [");
        array = Some(toks[open + 1..toks.len() - 1].join(""));
        toks.truncate(open);
    }
    let name = toks.pop().expect("declaration without name");
    let mut ty = c_type(&toks);
    if let Some(n) = array {
        ty = format!("[{}; {}]", ty, n);
    }
    (name, ty)
}

fn rust_base(name: &str) -> &str {
    match name {
        "c_char" => "char",
        "c_int" => "int",
        "c_void" => "void",
        "usize" => "size_t",
        "i64" => "int64_t",
        "u64" => "uint64_t",
        "i32" => "int32_t",
        "u8" => "uint8_t",
        "f32" => "float",
        "f64" => "double",
        other => other,
    }
}

/// A Rust type (`*const *const c_char`, `[u64; N]`) in the canonical spelling.
fn rust_type(text: &str) -> String {
    let toks = tokens(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        match toks[i].as_str() {
            "*" => {
                out.push(format!("*{}", toks[i + 1]));
                i += 2;
                continue;
            }
            ";" => out.push(";".to_string()),
            other => out.push(rust_base(other).to_string()),
        }
        i += 1;
    }
    out.join(" ").replace("[ ", "[").replace(" ;", ";").replace(" ]", "]")
}

// ---------------------------------------------------------------------------------------------
// The header's declarations.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq, Clone)]
struct Function {
    params: Vec<(String, String)>,
    ret: String,
}

#[derive(Default, Debug)]
struct Api {
    functions: BTreeMap<String, Function>,
    structs: BTreeMap<String, Vec<(String, String)>>,
    opaque: Vec<String>,
    enums: Vec<String>,
    constants: BTreeMap<String, i64>,
    callbacks: BTreeMap<String, Function>,
}

fn c_function(text: &str) -> (String, Function) {
    let open = text.find('(').expect("function without (");
    let (params_text, _) = balanced(text, open, '(', ')');
    let mut head = tokens(&text[..open]);
    let name = head.pop().expect("function without name");
    let params = if params_text.trim() == "void" {
        Vec::new()
    } else {
        split_top(&params_text).iter().map(|p| c_declaration(p)).collect()
    };
    (name, Function { params, ret: c_type(&head) })
}

fn parse_header(text: &str) -> Api {
    let mut api = Api::default();
    let mut body = String::new();
    for line in strip_comments(text).lines() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("#define ") {
            let parts: Vec<&str> = rest.split_whitespace().collect();
            if parts.len() == 2 && parts[0].starts_with("JINA3_") {
                if let Ok(value) = parts[1].parse::<i64>() {
                    api.constants.insert(parts[0].to_string(), value);
                }
            }
        } else if !trimmed.starts_with('#') {
            body.push_str(line);
            body.push('\n');
        }
    }
    // Only what lies inside extern "C" { ... } and the typedefs before it matter; the C++ guard
    // lines are preprocessor lines, already gone.
    let mut rest = body.as_str();
    while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
        rest = &rest[start..];
        if rest.starts_with("typedef enum") {
            let open = rest.find('{').unwrap();
            let (inner, close) = balanced(rest, open, '{', '}');
            let end = rest[close..].find(';').unwrap() + close;
            let name = tokens(&rest[close + 1..end]).pop().unwrap();
            let mut next = 0i64;
            for item in split_top(&inner) {
                let parts: Vec<&str> = item.split('=').map(str::trim).collect();
                let value = if parts.len() == 2 { parts[1].replace(' ', "").parse::<i64>().unwrap() } else { next };
                api.constants.insert(parts[0].to_string(), value);
                next = value + 1;
            }
            api.enums.push(name);
            rest = &rest[end + 1..];
        } else if rest.starts_with("typedef struct") {
            let end = rest.find(';').unwrap();
            match rest.find('{') {
                Some(open) if open < end => {
                    let (inner, close) = balanced(rest, open, '{', '}');
                    let end = rest[close..].find(';').unwrap() + close;
                    let name = tokens(&rest[close + 1..end]).pop().unwrap();
                    let fields = inner.split(';').filter(|f| !f.trim().is_empty()).map(c_declaration).collect();
                    api.structs.insert(name, fields);
                    rest = &rest[end + 1..];
                }
                _ => {
                    api.opaque.push(tokens(&rest[..end]).pop().unwrap());
                    rest = &rest[end + 1..];
                }
            }
        } else if rest.starts_with("typedef") {
            // typedef RET (*NAME)(PARAMS);
            let end = rest.find(';').unwrap();
            let decl = &rest["typedef".len()..end];
            let star = decl.find("(*").expect("unknown typedef");
            let (name, close) = balanced(decl, star, '(', ')');
            let name = name.trim_start_matches('*').trim().to_string();
            let (params_text, _) = balanced(decl, close + 1, '(', ')');
            let params = split_top(&params_text).iter().map(|p| c_declaration(p)).collect();
            api.callbacks.insert(name, Function { params, ret: c_type(&tokens(&decl[..star])) });
            rest = &rest[end + 1..];
        } else if rest.starts_with("extern \"C\" {") {
            // The C++ guard's `extern "C" {` and its closing brace.
            rest = &rest["extern \"C\" {".len()..];
        } else if rest.starts_with('}') {
            rest = &rest[1..];
        } else {
            let end = rest.find(';').unwrap_or(rest.len());
            let statement = rest[..end].replace("JINA3_NODISCARD", "").replace("JINA3_API", "");
            if statement.contains('(') {
                let (name, function) = c_function(&statement);
                api.functions.insert(name, function);
            } else if !statement.trim().is_empty() && statement.trim() != "}" {
                panic!("unrecognised declaration in jina3.h: {}", statement.trim());
            }
            rest = if end < rest.len() { &rest[end + 1..] } else { "" };
        }
    }
    api
}

// ---------------------------------------------------------------------------------------------
// lib.rs's declarations.
// ---------------------------------------------------------------------------------------------

fn rust_params(text: &str) -> Vec<(String, String)> {
    split_top(text)
        .iter()
        .map(|p| {
            let colon = p.find(':').expect("parameter without type");
            (p[..colon].trim().to_string(), rust_type(&p[colon + 1..]))
        })
        .collect()
}

fn rust_function(text: &str) -> (String, Function) {
    let open = text.find('(').unwrap();
    let (params, close) = balanced(text, open, '(', ')');
    let name = tokens(&text[..open]).pop().unwrap();
    let ret = text[close + 1..].trim().strip_prefix("->").map_or("void".to_string(), rust_type);
    (name, Function { params: rust_params(&params), ret })
}

fn parse_rust(text: &str) -> Api {
    let mut api = Api::default();
    let text = strip_comments(text);
    // extern "C" block.
    let start = text.find("extern \"C\" {").expect("no extern block");
    let (block, _) = balanced(&text, start + "extern \"C\" ".len(), '{', '}');
    for statement in block.split(';').filter(|s| s.contains("fn ")) {
        let (name, function) = rust_function(statement);
        api.functions.insert(name, function);
    }
    // Structs.
    let mut rest = text.as_str();
    while let Some(at) = rest.find("pub struct ") {
        let open = rest[at..].find('{').unwrap() + at;
        let name = tokens(&rest[at..open]).pop().unwrap();
        let (inner, close) = balanced(rest, open, '{', '}');
        if inner.contains("_private") {
            api.opaque.push(name);
        } else {
            let fields = split_top(&inner)
                .iter()
                .map(|f| {
                    let f = f.trim().trim_start_matches("pub ");
                    let colon = f.find(':').unwrap();
                    (f[..colon].trim().to_string(), rust_type(&f[colon + 1..]))
                })
                .collect();
            api.structs.insert(name, fields);
        }
        rest = &rest[close..];
    }
    // Constants and type aliases.
    for statement in text.split(';') {
        if let Some(at) = statement.find("pub const ") {
            let decl = &statement[at + "pub const ".len()..];
            let colon = decl.find(':').unwrap();
            let eq = decl.find('=').unwrap();
            api.constants.insert(decl[..colon].trim().to_string(), decl[eq + 1..].trim().parse().unwrap());
        } else if let Some(at) = statement.find("pub type ") {
            let decl = &statement[at + "pub type ".len()..];
            let eq = decl.find('=').unwrap();
            let name = decl[..eq].trim().to_string();
            let value = decl[eq + 1..].trim();
            if value == "c_int" {
                api.enums.push(name);
            } else if let Some(fn_at) = value.find("fn(") {
                let (params, close) = balanced(value, fn_at + 2, '(', ')');
                let after = value[close + 1..].trim().trim_end_matches('>').trim();
                let ret = after.strip_prefix("->").map_or("void".to_string(), rust_type);
                api.callbacks.insert(name, Function { params: rust_params(&params), ret });
            }
        }
    }
    api
}

#[test]
fn declarations_match_the_header() {
    let c = parse_header(&header_text());
    let rust = parse_rust(RUST_SOURCE);
    // A parser that found nothing would compare equal: the header has 61 functions.
    assert!(c.functions.len() >= 60, "only {} functions parsed from jina3.h", c.functions.len());
    assert!(c.functions.contains_key("jina3_encoder_encode") && c.structs.contains_key("jina3_stats"));

    let mut problems = Vec::new();
    for (name, function) in &c.functions {
        match rust.functions.get(name) {
            None => problems.push(format!("{} is in jina3.h but not declared in lib.rs", name)),
            Some(declared) if declared != function => {
                problems.push(format!("{}: jina3.h has {:?}\n    lib.rs has {:?}", name, function, declared))
            }
            _ => {}
        }
    }
    for name in rust.functions.keys().filter(|n| !c.functions.contains_key(*n)) {
        problems.push(format!("{} is declared in lib.rs but not in jina3.h", name));
    }
    if c.structs != rust.structs {
        problems.push(format!("structs differ:\n    jina3.h: {:?}\n    lib.rs:  {:?}", c.structs, rust.structs));
    }
    let (mut c_opaque, mut rust_opaque) = (c.opaque.clone(), rust.opaque.clone());
    c_opaque.sort();
    rust_opaque.sort();
    if c_opaque != rust_opaque {
        problems.push(format!("opaque handles: jina3.h {:?}, lib.rs {:?}", c_opaque, rust_opaque));
    }
    let (mut c_enums, mut rust_enums) = (c.enums.clone(), rust.enums.clone());
    c_enums.sort();
    rust_enums.sort();
    if c_enums != rust_enums {
        problems.push(format!("enums: jina3.h {:?}, lib.rs (c_int aliases) {:?}", c_enums, rust_enums));
    }
    if c.constants != rust.constants {
        problems.push(format!("constants:\n    jina3.h: {:?}\n    lib.rs:  {:?}", c.constants, rust.constants));
    }
    if c.callbacks != rust.callbacks {
        problems.push(format!("callbacks: jina3.h {:?}, lib.rs {:?}", c.callbacks, rust.callbacks));
    }
    assert!(problems.is_empty(), "jina3-sys has drifted from jina3.h:\n  {}", problems.join("\n  "));
}

#[test]
fn the_parsers_notice_a_change() {
    // The comparison above is only as good as the parsers: a changed type, a dropped const or a
    // renamed field in the header must make the parsed declarations differ.
    let header = header_text();
    let original = parse_header(&header);
    let edits = [
        ("size_t out_capacity, uint8_t* truncated", "size_t out_capacity, int8_t* truncated"),
        ("const char* const* texts", "char* const* texts"),
        ("bool split_special_tokens;", "bool split_special_token;"),
        ("JINA3_ERR_CANCELLED = 12", "JINA3_ERR_CANCELLED = 13"),
        ("int64_t deadline_us;", "int32_t deadline_us;"),
    ];
    for (from, to) in edits {
        assert!(header.contains(from), "jina3.h no longer contains {:?}: update this test", from);
        let changed = parse_header(&header.replacen(from, to, 1));
        let same = changed.functions == original.functions
            && changed.structs == original.structs
            && changed.constants == original.constants;
        assert!(!same, "editing {:?} -> {:?} went unnoticed", from, to);
    }
}

// ---------------------------------------------------------------------------------------------
// Layout, measured by a C compiler.
// ---------------------------------------------------------------------------------------------

macro_rules! offset {
    ($t:ty, $field:ident) => {{
        let value = MaybeUninit::<$t>::uninit();
        let base = value.as_ptr();
        // SAFETY: addr_of! computes the field's address without reading or referencing it.
        let field = unsafe { std::ptr::addr_of!((*base).$field) };
        field as usize - base as usize
    }};
}

macro_rules! layout {
    ($($t:ident { $($field:ident),* $(,)? })*) => {
        vec![$((
            stringify!($t),
            size_of::<$t>(),
            align_of::<$t>(),
            vec![$((stringify!($field), offset!($t, $field))),*],
        )),*]
    };
}

type Layout = (&'static str, usize, usize, Vec<(&'static str, usize)>);

fn rust_layouts() -> Vec<Layout> {
    layout! {
        jina3_encoder_options { struct_size, device, device_index, dtype, num_threads, max_batch_tokens,
            max_batch_size, verify_checksums, retain_host_memory, max_wait_us, max_queued_requests, cache_bytes,
            use_scheduler, bulk_share, bulk_pass_tokens }
        jina3_encode_options { struct_size, max_length, batch_size, normalize, truncate, deadline_us, block_when_full,
            priority, split_special_tokens }
        jina3_histogram { buckets, count, sum }
        jina3_lane_stats { requests, rows, passes, tokens, padded_tokens, cancelled, cancelled_rows, latency_us,
            queue_wait_us, rows_per_pass, tokens_per_pass }
        jina3_stats { struct_size, requests, rows, passes, tokens, padded_tokens, queue_depth, max_queue_depth,
            rejected, deadline_exceeded, failed, cache_hits, cache_misses, cache_evictions, cache_bytes,
            cache_entries, queue_wait_us, pass_us, cancelled, lanes }
        jina3_late_chunk_options { struct_size, chunk_tokens, sentences, window, overlap, normalize,
            include_special_tokens }
    }
}

#[test]
fn struct_layouts_match_the_c_compiler() {
    let api = parse_header(&header_text());
    let layouts = rust_layouts();
    // Every struct of the header is measured, with every field the header gives it.
    let measured: Vec<&str> = layouts.iter().map(|l| l.0).collect();
    let declared: Vec<&str> = api.structs.keys().map(String::as_str).collect();
    let mut measured_sorted = measured.clone();
    measured_sorted.sort();
    assert_eq!(measured_sorted, declared, "the layout table in this test misses a struct of jina3.h");
    for (name, _, _, fields) in &layouts {
        let names: Vec<&str> = fields.iter().map(|f| f.0).collect();
        let header_names: Vec<&str> = api.structs[*name].iter().map(|f| f.0.as_str()).collect();
        assert_eq!(names, header_names, "the layout table's fields of {} differ from jina3.h", name);
    }

    // The C program.
    let mut program =
        String::from("#include <stddef.h>\n#include <stdio.h>\n#include <jina3/jina3.h>\nint main(void) {\n");
    for (name, _, _, fields) in &layouts {
        program += &format!("  printf(\"{0} %zu %zu\\n\", sizeof({0}), (size_t)_Alignof({0}));\n", name);
        for (field, _) in fields {
            program += &format!("  printf(\"{0}.{1} %zu\\n\", offsetof({0}, {1}));\n", name, field);
        }
    }
    for name in &api.enums {
        program += &format!("  printf(\"enum {0} %zu %zu\\n\", sizeof({0}), (size_t)_Alignof({0}));\n", name);
    }
    program += "  printf(\"callback %zu\\n\", sizeof(jina3_request_callback));\n  return 0;\n}\n";

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("layout");
    fs::create_dir_all(&dir).unwrap();
    let source = dir.join("layout.c");
    let binary = dir.join("layout");
    fs::write(&source, program).unwrap();
    let cc = env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let compiled = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Werror", "-I"])
        .arg(include_dir())
        .arg(&source)
        .arg("-o")
        .arg(&binary)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler {:?}: {}", cc, e));
    assert!(compiled.status.success(), "{} failed:\n{}", cc, String::from_utf8_lossy(&compiled.stderr));
    let output = Command::new(&binary).output().unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();

    let mut expected = Vec::new();
    for (name, size, align, fields) in &layouts {
        expected.push(format!("{} {} {}", name, size, align));
        for (field, offset) in fields {
            expected.push(format!("{}.{} {}", name, field, offset));
        }
    }
    for name in &api.enums {
        // Every enum is a c_int alias here.
        expected.push(format!("enum {} {} {}", name, size_of::<c_int>(), align_of::<c_int>()));
    }
    expected.push(format!("callback {}", size_of::<jina3_request_callback>()));
    let got: Vec<&str> = printed.lines().collect();
    assert_eq!(got.len(), expected.len());
    let mismatches: Vec<String> = got
        .iter()
        .zip(&expected)
        .filter(|(c, r)| c != r)
        .map(|(c, r)| format!("C says {:?}, Rust says {:?}", c, r))
        .collect();
    assert!(mismatches.is_empty(), "layouts differ:\n  {}", mismatches.join("\n  "));
}

// ---------------------------------------------------------------------------------------------
// Symbols in the library.
// ---------------------------------------------------------------------------------------------

extern "C" {
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlerror() -> *const c_char;
}
const RTLD_NOW: c_int = 2;

#[test]
fn the_library_exports_every_function() {
    let dir = env!("JINA3_SYS_LIB_DIR");
    let path = if dir.is_empty() { "libjina3.so".to_string() } else { format!("{}/libjina3.so", dir) };
    let c_path = CString::new(path.clone()).unwrap();
    // SAFETY: plain libc calls with NUL-terminated strings.
    let handle = unsafe { dlopen(c_path.as_ptr(), RTLD_NOW) };
    assert!(!handle.is_null(), "dlopen({}): {}", path, unsafe { CStr::from_ptr(dlerror()) }.to_string_lossy());
    let api = parse_header(&header_text());
    let missing: Vec<&String> = api
        .functions
        .keys()
        .filter(|name| {
            let symbol = CString::new(name.as_str()).unwrap();
            unsafe { dlsym(handle, symbol.as_ptr()) }.is_null()
        })
        .collect();
    assert!(missing.is_empty(), "{} lacks {:?}", path, missing);
    // And the linked declarations reach the same library.
    assert_eq!(unsafe { jina3_abi_version() }, JINA3_ABI_VERSION);
}
