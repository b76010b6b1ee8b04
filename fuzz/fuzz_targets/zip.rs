//! A model folder dropped as a .zip, then read as a model.
#![no_main]
use conan_model::{MemorySource, read_files};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(src) = MemorySource::from_zip("fuzz.zip", data) {
        let _ = pollster::block_on(read_files(&src));
    }
});
