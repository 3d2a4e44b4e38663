//! Finds libjina3 for the linker: $JINA3_LIB_DIR if set, else `pkg-config --libs-only-L jina3`,
//! else the linker's default path. The directory is handed on to crates that depend on this one
//! as DEP_JINA3_LIB_DIR (this crate declares `links = "jina3"`), so that their build scripts can
//! put it into their programs' RPATH; build scripts cannot do that for other crates' binaries.
use std::env;
use std::process::Command;

fn pkg_config_lib_dirs() -> Vec<String> {
    let output = match Command::new("pkg-config").args(["--libs-only-L", "jina3"]).output() {
        Ok(output) if output.status.success() => output,
        _ => return Vec::new(),
    };
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .filter_map(|flag| flag.strip_prefix("-L"))
        .map(String::from)
        .collect()
}

fn main() {
    println!("cargo:rerun-if-env-changed=JINA3_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-changed=build.rs");
    let dirs = match env::var("JINA3_LIB_DIR") {
        Ok(dir) if !dir.is_empty() => vec![dir],
        _ => pkg_config_lib_dirs(),
    };
    for dir in &dirs {
        println!("cargo:rustc-link-search=native={}", dir);
    }
    // This crate's own tests load the library from there too.
    if let Some(dir) = dirs.first() {
        println!("cargo:rustc-link-arg-tests=-Wl,-rpath,{}", dir);
        println!("cargo:lib_dir={}", dir);
        println!("cargo:rustc-env=JINA3_SYS_LIB_DIR={}", dir);
    } else {
        println!("cargo:rustc-env=JINA3_SYS_LIB_DIR=");
    }
    println!("cargo:rustc-link-lib=dylib=jina3");
}
