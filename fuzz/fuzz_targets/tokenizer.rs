//! tokenizer.json as the model loader reads it, then a few texts through it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(enc) = conan_text::TextEncoder::from_bytes(data, 64) {
        for text in ["", "hello world", "今天天气很好。", "😀 é ﷽"] {
            let _ = enc.encode(text);
        }
        let _ = enc.encode_batch(&["a b c", "中文"]);
    }
});
