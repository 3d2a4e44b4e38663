//! Tells cargo where libjina3 is: $JINA3_LIB_DIR if set, else `pkg-config --libs jina3`, else the
//! system's default library path. The directory also goes into the binary's RPATH so that the
//! example runs without LD_LIBRARY_PATH.
use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=JINA3_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    let mut dirs: Vec<String> = Vec::new();
    if let Ok(dir) = env::var("JINA3_LIB_DIR") {
        dirs.push(dir);
    } else if let Ok(output) = Command::new("pkg-config").args(["--libs-only-L", "jina3"]).output() {
        if output.status.success() {
            let flags = String::from_utf8_lossy(&output.stdout).into_owned();
            dirs.extend(flags.split_whitespace().filter_map(|f| f.strip_prefix("-L")).map(String::from));
        }
    }
    for dir in &dirs {
        println!("cargo:rustc-link-search=native={}", dir);
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir);
    }
    println!("cargo:rustc-link-lib=dylib=jina3");
}
