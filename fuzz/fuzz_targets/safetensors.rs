//! A model.safetensors next to a valid tiny config and tokenizer: header, tensor table,
//! dtypes, shapes and offsets are all the input's.
#![no_main]
use conan_model::{Config, MemorySource, host_tensors, read_files};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let src = MemorySource::new(
        "fuzz",
        [
            ("config.json".to_string(), Config::tiny().to_json().into_bytes()),
            ("tokenizer.json".to_string(), conan_text::byte_level_tokenizer_json().into_bytes()),
            ("model.safetensors".to_string(), data.to_vec()),
        ],
    );
    if let Ok(files) = pollster::block_on(read_files(&src)) {
        let _ = host_tensors(&files);
    }
});
