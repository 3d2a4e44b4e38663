//! This crate's own tests load libjina3 from the directory jina3-sys found
//! (DEP_JINA3_LIB_DIR), through their RPATH. Programs that use the crate set their own RPATH (or
//! LD_LIBRARY_PATH, or install libjina3 where the loader looks): build scripts reach only their
//! own package's binaries.
fn main() {
    if let Ok(dir) = std::env::var("DEP_JINA3_LIB_DIR") {
        println!("cargo:rustc-link-arg-tests=-Wl,-rpath,{}", dir);
    }
}
