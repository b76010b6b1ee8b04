//! A pack: manifest.json is the input up to the first NUL byte, one shard the rest (so both
//! the manifest's tensor table and the shard's bytes are explored together).
#![no_main]
use conan_model::{MemorySource, host_tensors, read_files};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (manifest, shard) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let src = MemorySource::new(
        "fuzz",
        [
            ("manifest.json".to_string(), manifest.to_vec()),
            ("tokenizer.json".to_string(), conan_text::byte_level_tokenizer_json().into_bytes()),
            ("shard-00000.safetensors".to_string(), shard.to_vec()),
        ],
    );
    if let Ok(files) = pollster::block_on(read_files(&src)) {
        let _ = host_tensors(&files);
    }
});
