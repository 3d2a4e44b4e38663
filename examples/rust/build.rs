//! Puts libjina3's directory into the program's RPATH, so it runs without LD_LIBRARY_PATH: the
//! directory jina3-sys links from ($JINA3_LIB_DIR, else `pkg-config --libs-only-L jina3`).
//! (Build scripts of dependencies cannot set another package's RPATH; skip this file when
//! libjina3 is installed where the loader looks anyway.)
use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=JINA3_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    let dir = env::var("JINA3_LIB_DIR").ok().filter(|d| !d.is_empty()).or_else(|| {
        let output = Command::new("pkg-config").args(["--libs-only-L", "jina3"]).output().ok()?;
        let flags = String::from_utf8_lossy(&output.stdout).into_owned();
        flags.split_whitespace().find_map(|f| f.strip_prefix("-L").map(String::from))
    });
    if let Some(dir) = dir {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir);
    }
}
