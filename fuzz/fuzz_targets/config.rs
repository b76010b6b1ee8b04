//! config.json: parse, validate, then everything derived from the shape (a huge size must
//! be refused by `validate`, not overflow in `num_params`).
#![no_main]
use conan_model::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(config) = Config::from_json(text) {
        let _ = config.num_params();
        let _ = config.tensor_shapes();
        let _ = config.head_dim();
        for d in [1, 64, 256, 1 << 20] {
            let _ = config.check_dims(d);
        }
    }
});
